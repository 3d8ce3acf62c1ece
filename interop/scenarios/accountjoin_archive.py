#!/usr/bin/python3
"""Account join, archive: room messages land once in the account's archive.

Accounts: alice, bob.

bob creates a room on conference.DOMAIN; alice's phone joins it; bob sends
three messages, which phone receives each with the room's <stanza-id/> and
one <stanza-id by='alice@DOMAIN'/> (docs/account-join.md rule 20).

alice's laptop, which never joined, queries her own archive (XEP-0313):
- with=room and include-groupchat=true: exactly the three messages, in
  order, each once: the result id is the <stanza-id by=alice/> phone saw,
  the forwarded message comes from room/bob with its body, the room's
  <stanza-id/> phone saw and no second one by alice, under a <delay/>;
  <fin complete='true'>. The results reach laptop only, not phone.
- the same query without include-groupchat: no results (groupchat is left
  out unless asked for).
- disco#info on alice's bare JID lists urn:minimix:account-join:0,
  urn:xmpp:mam:2#groupchat-field and urn:xmpp:mam:2#groupchat-available.
"""

import common
from common import check, check_eq, log

PLUGINS = ('xep_0045',)
BODIES = ('archived one', 'archived two', 'archived three')
FEATURES = ('urn:minimix:account-join:0', 'urn:xmpp:mam:2#groupchat-field',
            'urn:xmpp:mam:2#groupchat-available')


def is_mam_result(s):
    return common.local_name(s) == 'message' and s.xml.find('{%s}result' % common.NS_MAM) is not None


async def scenario(sc):
    A = sc.bare('alice')
    R = 'accountjoin-archive@conference.' + sc.domain

    bob = await sc.login('bob', 'pc', plugins=PLUGINS, record_stanzas=True)
    await bob.create_room(R, 'bob')
    phone = await sc.login('alice', 'phone', plugins=PLUGINS, record_stanzas=True)
    ans = await phone.join_room(R, 'alice', 'join-phone')
    check_eq(ans.occupant_jids(), [R + '/bob'], 'phone: occupants')

    log.info('bob sends %d messages', len(BODIES))
    live = []  # (room's stanza-id, alice's stanza-id) per message, in order
    for i, body in enumerate(BODIES):
        bob.send_groupchat(R, body, 'bob-%d' % i)
        m = await phone.expect_groupchat(R, body)
        ids = common.stanza_ids(m)
        check(ids.get(R) and len(ids[R]) == 1, 'phone: not one <stanza-id by=room/>: %s' % m)
        check(ids.get(A) and len(ids[A]) == 1, 'phone: not one <stanza-id by=%r/>: %s' % (A, m))
        live.append((ids[R][0], ids[A][0]))
    check_eq(len({a for _, a in live}), len(BODIES), 'distinct archive ids')

    laptop = await sc.login('alice', 'laptop', plugins=('xep_0030',), record_stanzas=True)

    log.info('laptop: MAM query with=room, include-groupchat')
    results, res = await laptop.query_archive(with_jid=R, include_groupchat=True, queryid='gc')
    check_eq(len(results), len(BODIES), 'laptop: number of archived room messages (%s)'
             % [common._short(r) for r in results])
    for r, body, (room_id, own_id) in zip(results, BODIES, live):
        check_eq(str(r['to']), laptop.boundjid.full, 'laptop: to of a <result/>')
        check(r['from'].full in ('', A), 'laptop: <result/> from %r (must be the archive owner)' % r['from'].full)
        res_id = r.xml.find('{%s}result' % common.NS_MAM).get('id')
        check_eq(res_id, own_id, 'laptop: result id of %r vs the <stanza-id by=alice/> phone saw' % body)
        msg, delay = common.mam_forwarded(r)
        check(delay is not None and delay.get('stamp'), 'laptop: <forwarded/> without <delay stamp/>: %s' % r)
        b = msg.find('{%s}body' % common.NS_CLIENT)
        check_eq((msg.get('from'), msg.get('type'), b.text if b is not None else None),
                 (R + '/bob', 'groupchat', body), 'laptop: archived message from, type, body')
        ids = common.stanza_ids(msg)
        check_eq(ids.get(R), [room_id], 'laptop: the room\'s <stanza-id/> of %r, kept' % body)
        check(len(ids.get(A, [])) <= 1, 'laptop: archived %r with several <stanza-id by=alice/>' % body)
    fin = res.xml.find('{%s}fin' % common.NS_MAM)
    check(fin.get('complete') in ('true', '1'), 'laptop: <fin/> not complete: %s' % res)
    await phone.quiet('stanza', is_mam_result, 'MAM results for laptop\'s query')

    log.info('laptop: MAM query with=room, without include-groupchat')
    results, _ = await laptop.query_archive(with_jid=R, include_groupchat=None, queryid='plain')
    check_eq([common._short(r) for r in results], [], 'laptop: room messages without include-groupchat')

    log.info('laptop: disco#info on %s', A)
    info = await laptop['xep_0030'].get_info(jid=A, timeout=common.WAIT)
    features = set(info['disco_info']['features'])
    for f in FEATURES:
        check(f in features, 'disco#info of %s lacks %s: %s' % (A, f, sorted(features)))

    await laptop.quiet('stanza', lambda s: common._jid_bare(s['from']) == R,
                       'room traffic on a session that did not join')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
