#!/usr/bin/python3
"""Autojoin: an XEP-0402 bookmark keeps the account in a room, across a restart.

Accounts: alice, bob.

bob creates a persistent room on conference.DOMAIN and stays in it.

- alice's desk client publishes a native bookmark (urn:xmpp:bookmarks:1,
  item id = the room, autojoin='true', nick "al") with the publish-options
  XEP-0402 asks for, through slixmpp's xep_0060 (1.8.3 has no xep_0402),
  and disconnects without joining anything. bob sees alice enter as her
  bare JID and stay; bob talks.
- The server restarts (interop_test.go, on the same data). bob logs in
  again and rejoins: alice is in the room, with no session of hers online.
  bob talks again.
- alice's phone connects: her archive (XEP-0313, with=room,
  include-groupchat) holds both of bob's messages, each once, in order,
  with the room's <stanza-id/>.
- phone joins: answered by the server, with both messages as history.
- phone republishes the bookmark with autojoin='false': the account leaves;
  phone gets its unavailable self-presence (110), bob sees alice leave.
"""

from xml.etree import ElementTree as ET

import common
from common import check, check_eq, log

NS_BOOKMARKS = 'urn:xmpp:bookmarks:1'
NICK = 'al'
PLUGINS_BOOKMARKS = ('xep_0004', 'xep_0060')
BEFORE, AFTER = 'said before the restart', 'said after the restart'


def conference(nick, autojoin):
    c = ET.Element('{%s}conference' % NS_BOOKMARKS, name='Autojoin room',
                   autojoin='true' if autojoin else 'false')
    ET.SubElement(c, '{%s}nick' % NS_BOOKMARKS).text = nick
    return c


def publish_options(c):
    """The node configuration XEP-0402 section 4 asks for, as preconditions."""
    form = c['xep_0004'].make_form(ftype='submit')
    form.add_field(var='FORM_TYPE', ftype='hidden',
                   value='http://jabber.org/protocol/pubsub#publish-options')
    form.add_field(var='pubsub#persist_items', value='true')
    form.add_field(var='pubsub#access_model', value='whitelist')
    form.add_field(var='pubsub#max_items', value='max')
    return form


async def publish_bookmark(c, room, autojoin):
    log.info('%s: bookmark %s with autojoin=%s', c.label, room, autojoin)
    await c['xep_0060'].publish(None, NS_BOOKMARKS, id=room, payload=conference(NICK, autojoin),
                                options=publish_options(c), timeout=common.WAIT)


def check_alice_in_room(p, A, what):
    check(p['type'] != 'unavailable', '%s: alice is not in the room: %s' % (what, p))
    it = common.muc_item(p)
    check(it is not None and it.get('jid') == A,
          '%s: alice\'s presence does not show her bare JID %s: %s' % (what, A, p))
    check('110' not in common.muc_status(p), '%s: 110 in alice\'s presence: %s' % (what, p))


async def scenario(sc):
    A = sc.bare('alice')
    R = 'autojoin@conference.' + sc.domain
    al = '%s/%s' % (R, NICK)
    alice_left = lambda s: common.is_presence_from(s, al, 'unavailable')

    bob = await sc.login('bob', 'pc', plugins=('xep_0045',), record_stanzas=True)
    await bob.create_room(R, 'bob', persistent=True)

    desk = await sc.login('alice', 'desk', presence=False, plugins=PLUGINS_BOOKMARKS)
    await publish_bookmark(desk, R, True)
    await desk.close()
    p = await bob.expect('stanza', lambda s: common.is_presence_from(s, al), 'bob: alice joins by bookmark')
    check_alice_in_room(p, A, 'bob')
    await bob.quiet('stanza', alice_left, 'alice leaving after her last client went away')
    bob.send_groupchat(R, BEFORE, 'bob-before')
    await bob.expect_groupchat(R, BEFORE, 'bob: his reflection')

    await sc.restart_server()

    log.info('bob comes back')
    bob = await sc.login('bob', 'pc', plugins=('xep_0045',), record_stanzas=True)
    ans = await bob.join_room(R, 'bob', 'bob-again', history={'maxchars': 0})
    seen = [o for o in ans.occupants if str(o['from']) == al]
    if seen:
        p = seen[0]
    else:
        # The account's own rejoin may come after bob's.
        p = await bob.expect('stanza', lambda s: common.is_presence_from(s, al),
                             'bob: alice in the room after the restart')
    check_alice_in_room(p, A, 'bob after the restart')
    bob.send_groupchat(R, AFTER, 'bob-after')
    room_ids = {}
    echo = await bob.expect_groupchat(R, AFTER, 'bob: his reflection')
    room_ids[AFTER] = common.stanza_ids(echo).get(R)

    log.info('alice\'s phone connects and reads her archive')
    phone = await sc.login('alice', 'phone', plugins=PLUGINS_BOOKMARKS + ('xep_0045',), record_stanzas=True)
    results, res = await phone.query_archive(with_jid=R, include_groupchat=True, queryid='room')
    got = []
    for r in results:
        msg, delay = common.mam_forwarded(r)
        b = msg.find('{%s}body' % common.NS_CLIENT)
        got.append((msg.get('from'), msg.get('type'), b.text if b is not None else None))
        check(delay is not None and delay.get('stamp'), 'phone: <forwarded/> without <delay stamp/>: %s' % r)
        ids = common.stanza_ids(msg).get(R, [])
        check_eq(len(ids), 1, 'phone: the room\'s <stanza-id/> of an archived message (%s)' % common._short(r))
        if b is not None and b.text == AFTER and room_ids[AFTER]:
            check_eq(ids, room_ids[AFTER], 'phone: the room\'s <stanza-id/> of %r' % AFTER)
    check_eq(got, [(R + '/bob', 'groupchat', BEFORE), (R + '/bob', 'groupchat', AFTER)],
             'phone: room messages in alice\'s archive')
    fin = res.xml.find('{%s}fin' % common.NS_MAM)
    check(fin.get('complete') in ('true', '1'), 'phone: <fin/> not complete: %s' % res)

    log.info('phone joins the room the account is in')
    ans = await phone.join_room(R, NICK, 'join-phone')
    check_eq(ans.occupant_jids(), [R + '/bob'], 'phone: occupants')
    check_eq(str(ans.self['from']), al, 'phone: self-presence from')
    check_eq(ans.history_bodies(), [BEFORE, AFTER], 'phone: history from the account archive')
    await bob.quiet('stanza', alice_left, 'alice leaving')
    await bob.quiet('stanza', lambda s: common.is_presence_from(s, al) and '110' in common.muc_status(s),
                    'a second join of alice')
    bob.take('stanza', lambda s: common.is_presence_from(s, al))  # back from xa

    await publish_bookmark(phone, R, False)
    p = await phone.expect('stanza', lambda s: common.is_presence_from(s, al, 'unavailable'),
                           'phone: unavailable after autojoin was switched off')
    check('110' in common.muc_status(p), 'phone: its unavailable presence without 110: %s' % p)
    check_eq(str(p['to']), phone.boundjid.full, 'phone: to of its unavailable presence')
    await bob.expect('stanza', alice_left, 'bob: alice leaves after autojoin was switched off')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
