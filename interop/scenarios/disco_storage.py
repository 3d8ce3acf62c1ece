#!/usr/bin/python3
"""Disco: where clients look for bookmark storage and PEP.

Accounts: alice.

Does what poezio 0.14 does at login (core.check_bookmark_storage): a
disco#info to the server's domain, where it looks for 'jabber:iq:private'
(Private XML storage, XEP-0049) and
'http://jabber.org/protocol/pubsub#publish' (PEP); without either it says
"No remote bookmark storage available" and keeps bookmarks local. Then what
Gajim and Conversations do on the account's bare JID: the pubsub/pep
identity, pubsub#publish and #publish-options (which XEP-0402 bookmarks
need), and the urn:xmpp:bookmarks:1#compat feature.

Then poezio's next step with each storage it found: fetch the bookmarks
through slixmpp's xep_0048 plugin over Private XML and over PEP (an
account that never stored any gets empty storage or item-not-found, which
poezio accepts), store one, and read it back both ways.
"""

import common
from common import check, fail, log
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0048 import Bookmarks

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'


async def scenario(sc):
    alice = await sc.login('alice', 'poezio', plugins=('xep_0030', 'xep_0048'))

    info = await alice['xep_0030'].get_info(jid=alice.boundjid.domain, timeout=common.WAIT)
    features = set(info['disco_info']['features'])
    private = 'jabber:iq:private' in features
    pep = NS_PUBSUB + '#publish' in features
    log.info('server %s: jabber:iq:private %s, pubsub#publish %s', alice.boundjid.domain, private, pep)
    check(private or pep, "poezio's check fails: the server lists neither jabber:iq:private nor "
          "pubsub#publish; it would say \"No remote bookmark storage available\": %s" % sorted(features))
    check(private, 'the server does not list jabber:iq:private')
    check(pep, 'the server does not list pubsub#publish')
    ids = {(i[0], i[1]) for i in info['disco_info']['identities']}
    check(('pubsub', 'pep') in ids, 'the server has no pubsub/pep identity: %s' % sorted(ids))

    info = await alice['xep_0030'].get_info(jid=alice.boundjid.bare, timeout=common.WAIT)
    features = set(info['disco_info']['features'])
    ids = {(i[0], i[1]) for i in info['disco_info']['identities']}
    check(('pubsub', 'pep') in ids, 'the account has no pubsub/pep identity: %s' % sorted(ids))
    for f in (NS_PUBSUB + '#publish', NS_PUBSUB + '#publish-options', 'urn:xmpp:bookmarks:1#compat',
              'jabber:iq:private'):
        check(f in features, 'the account does not list %s: %s' % (f, sorted(features)))
    log.info('account %s: pubsub/pep, publish-options, bookmarks compat: ok', alice.boundjid.bare)

    for method in ('xep_0049', 'xep_0223'):
        try:
            iq = await alice['xep_0048'].get_bookmarks(method=method, timeout=common.WAIT)
            log.info('%s: bookmarks of a new account: %s', method, iq['type'])
        except IqError as e:
            # poezio treats cancel/item-not-found as "no bookmarks yet".
            cond = (e.iq['error']['type'], e.iq['error']['condition'])
            check(cond == ('cancel', 'item-not-found'),
                  '%s: fetching bookmarks of a new account failed: %s' % (method, cond))
            log.info('%s: no bookmarks yet (item-not-found)', method)

    storage = Bookmarks()
    storage.add_conference('room@conference.%s' % sc.args.domain, 'al', name='Room', autojoin=True)
    try:
        await alice['xep_0048'].set_bookmarks(storage, method='xep_0049', timeout=common.WAIT)
    except IqError as e:
        fail('storing bookmarks over Private XML: %s' % e.iq)
    for method, path in (('xep_0049', ('private', 'bookmarks')),
                         ('xep_0223', ('pubsub', 'items', 'item', 'bookmarks'))):
        iq = await alice['xep_0048'].get_bookmarks(method=method, timeout=common.WAIT)
        b = iq
        for p in path:
            b = b[p]
        rooms = [str(c['jid']) for c in b['conferences']]
        check(rooms == ['room@conference.%s' % sc.args.domain],
              '%s: stored bookmark reads back as %s' % (method, rooms))
        log.info('%s: stored bookmark read back', method)
    await alice.close()

if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
