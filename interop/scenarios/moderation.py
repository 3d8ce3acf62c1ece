#!/usr/bin/python3
"""Moderation: XEP-0425 and XEP-0424 through slixmpp's xep_0425 and xep_0424 plugins.

Accounts: alice, bob.

slixmpp 1.8.3 speaks the older forms (urn:xmpp:message-moderate:0 and
urn:xmpp:message-retract:0 inside a XEP-0422 <apply-to/>), which minimix
accepts besides the current :1 forms and answers in both.

- alice creates a room (owner, moderator); bob joins.
- bob's message is moderated: bob's own attempt (a participant) is
  forbidden; alice's succeeds and both receive the moderation from the
  room, naming the message by the room's stanza-id, with the moderator and
  the reason; alice's archive (the room's messages, include-groupchat)
  holds a tombstone without the body, with <retracted/>.
- bob retracts another message of his: both receive the retraction from
  bob's occupant JID; alice's archive holds a tombstone for it.
- one to one: bob retracts a chat message to alice: alice receives the
  retraction and her archive holds a tombstone.
"""

from slixmpp import JID
from slixmpp.exceptions import IqError

import common
from common import check, check_eq, log

NS_RETRACT = 'urn:xmpp:message-retract:1'
NS_CLIENT = 'jabber:client'
PLUGINS = ('xep_0045', 'xep_0030', 'xep_0004', 'xep_0424', 'xep_0425')


def retracted(el):
    """The <retracted/> of an archived message (ElementTree), or None."""
    return el.find('{%s}retracted' % NS_RETRACT)


async def archived(c, with_jid, pick, what):
    """The archived message (ElementTree) of c's archive with with_jid
    that pick accepts."""
    results, _ = await c.query_archive(with_jid=with_jid, include_groupchat=True, queryid='q-' + what.replace(' ', '-'))
    for st in results:
        msg, _ = common.mam_forwarded(st)
        if pick(msg):
            return msg
    common.fail('%s: %s not in the archive with %s (%d results)' % (c.label, what, with_jid, len(results)))


async def scenario(sc):
    room = 'moderated@conference.' + sc.domain
    B = sc.bare('bob')
    alice = await sc.login('alice', 'home', plugins=PLUGINS, record_stanzas=True)
    bob = await sc.login('bob', 'work', plugins=PLUGINS, record_stanzas=True)
    await alice.create_room(room, 'Alice')
    await bob.join_room(room, 'Bob', 'join-bob')
    await alice.barrier()
    alice.take('stanza')

    log.info('bob speaks; bob cannot moderate, alice can')
    bob.send_groupchat(room, 'buy potions', 'spam-1')
    sids = {}
    for c in (alice, bob):
        m = await c.expect_groupchat(room, 'buy potions')
        sids[c.label] = common.stanza_ids(m).get(room, [None])[0]
    sid = sids[alice.label]
    check(sid and sid == sids[bob.label], 'one stanza-id by the room: %s' % sids)
    try:
        await bob['xep_0425'].moderate(JID(room), sid, 'mine', timeout=common.WAIT)
        common.fail("a participant's moderation was accepted")
    except IqError as e:
        check_eq(e.iq['error']['condition'], 'forbidden', "participant's moderation")
    await alice['xep_0425'].moderate(JID(room), sid, 'spam', timeout=common.WAIT)
    for c in (alice, bob):
        m = await c.expect('stanza', lambda s: common.local_name(s) == 'message'
                           and s.match('message/apply_to/moderated/retract')
                           and s['apply_to']['id'] == sid, 'the moderation')
        check_eq(m['from'].full, room, '%s: moderation from' % c.label)
        check_eq(m['type'], 'groupchat', '%s: moderation type' % c.label)
        check_eq(m['apply_to']['moderated']['by'], room + '/Alice', '%s: moderated by' % c.label)
        check_eq(m['apply_to']['moderated']['reason'], 'spam', '%s: reason' % c.label)
        rt = m.xml.find('{%s}retract' % NS_RETRACT)
        check(rt is not None and rt.get('id') == sid, '%s: no message-retract:1 <retract/>: %s' % (c.label, m))
    msg = await archived(alice, room, lambda el: sid in common.stanza_ids(el).get(room, []), 'the moderated message')
    check(msg.find('{%s}body' % NS_CLIENT) is None, 'moderated message kept its body: %s' % common.ET.tostring(msg))
    check(retracted(msg) is not None, 'no <retracted/> in the tombstone: %s' % common.ET.tostring(msg))

    log.info('bob retracts a message of his')
    bob.send_groupchat(room, 'wrong room', 'oops-1')
    m = await alice.expect_groupchat(room, 'wrong room')
    sid2 = common.stanza_ids(m)[room][0]
    await bob.expect_groupchat(room, 'wrong room')
    bob['xep_0424'].send_retraction(JID(room), sid2, mtype='groupchat')
    for c in (alice, bob):
        r = await c.expect('stanza', lambda s: common.local_name(s) == 'message'
                           and s.match('message/apply_to/retract') and s['apply_to']['id'] == sid2,
                           'the retraction')
        check_eq(r['from'].full, room + '/Bob', '%s: retraction from' % c.label)
    msg = await archived(alice, room, lambda el: sid2 in common.stanza_ids(el).get(room, []), 'the retracted message')
    check(msg.find('{%s}body' % NS_CLIENT) is None and retracted(msg) is not None,
          'retracted groupchat message archived as %s' % common.ET.tostring(msg))

    log.info('one to one: bob retracts a chat message')
    m = bob.make_message(mto=alice.boundjid.full, mbody='for your eyes', mtype='chat')
    m['id'] = 'chat-1'
    m.send()
    await alice.expect_message('for your eyes')
    bob['xep_0424'].send_retraction(JID(alice.boundjid.full), 'chat-1', mtype='chat')
    r = await alice.expect('stanza', lambda s: common.local_name(s) == 'message'
                           and s.match('message/apply_to/retract') and s['apply_to']['id'] == 'chat-1',
                           'the chat retraction')
    check_eq(r['from'].bare, B, 'chat retraction from')
    msg = await archived(alice, B, lambda el: el.get('id') == 'chat-1', 'the retracted chat message')
    check(msg.find('{%s}body' % NS_CLIENT) is None and retracted(msg) is not None,
          'retracted chat message archived as %s' % common.ET.tostring(msg))


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
