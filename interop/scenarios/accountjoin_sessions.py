#!/usr/bin/python3
"""Account join, sessions: one account in a room, the sessions that joined follow it.

Accounts: alice, bob.

bob creates a room on conference.DOMAIN (owner, moderator) and sets its
subject. alice is online three times: phone and laptop join the room,
tablet never does. docs/account-join.md numbers the rules checked.

- phone joins: bob's presence, then phone's self-presence (110, phone's
  join id, item jid = phone's full JID), no history, the subject; bob
  sees alice enter once, as the bare JID (rule 1).
- laptop joins: the same sequence with laptop's join id, answered by the
  server; bob sees no presence from alice, phone gets nothing (rule 2).
- bob's groupchat reaches phone and laptop once each, with the room's
  <stanza-id/> and <occupant-id/> untouched and alice's <stanza-id/>
  added (rules 7, 20); phone's groupchat reaches bob once from room/alice
  and is reflected to phone and laptop with its id and <origin-id/> (8).
- tablet's groupchat is refused with not-acceptable and reaches nobody (8).
- bob's private message reaches phone and laptop; phone's reaches bob
  from room/alice and laptop as a <sent/> carbon (9).
- XEP-0410 self-ping from laptop is answered; from tablet, not-acceptable
  (10).
- laptop leaves: it gets its unavailable 110 with its id; bob and phone
  see nothing; bob's next message reaches phone only (13).
- phone's TCP connection is cut: bob never sees alice leave (at most an
  xa presence) and a message sent meanwhile is archived (11, 15).
- phone (again) and laptop join: answered locally, phone with the two
  newest messages from alice's archive as history (maxstanzas=2), laptop
  with none (maxchars=0); bob sees alice come back, not leave (2, 11).
- bob kicks alice with a reason: phone and laptop each get 307 + 110 and
  the reason; bob sees alice leave with 307 (17).
- tablet got none of the room's traffic.
"""

from xml.etree import ElementTree as ET

import common
from common import check, check_eq, log
from slixmpp.exceptions import IqError

PLUGINS = ('xep_0045',)
SUBJECT = 'Where the account is the member'
KICK_REASON = 'Kicked by the interop scenario'


def item_of(p, what):
    it = common.muc_item(p)
    check(it is not None, '%s: presence without a muc#user <item/>: %s' % (what, p))
    return it


def check_self(c, ans, room, nick, join_id, codes=('110',), show=''):
    """Checks a join answer's self-presence, sent to c."""
    p = ans.self
    check_eq(str(p['from']), '%s/%s' % (room, nick), '%s: self-presence from' % c.label)
    check_eq((p['type'], p['show']), ('xa' if show == 'xa' else 'available', show),
             '%s: self-presence type, show' % c.label)
    check_eq(p['id'], join_id, '%s: self-presence id' % c.label)
    for code in codes:
        check(code in common.muc_status(p), '%s: self-presence without status %s: %s' % (c.label, code, p))
    it = item_of(p, c.label)
    if it.get('jid') is not None:
        # Rule 1: the account's bare JID reads as the session's full JID.
        check_eq(it.get('jid'), c.boundjid.full, '%s: item jid of its own presence' % c.label)
    check_eq((it.get('affiliation'), it.get('role')), ('none', 'participant'),
             '%s: own affiliation and role' % c.label)


def check_bob_occupant(c, ans, room):
    check_eq(ans.occupant_jids(), ['%s/bob' % room], '%s: occupant presences before its own' % c.label)
    it = item_of(ans.occupants[0], c.label)
    check_eq((it.get('affiliation'), it.get('role')), ('owner', 'moderator'), '%s: bob\'s affiliation, role' % c.label)
    check_eq(ans.subject_text(), SUBJECT, '%s: subject' % c.label)
    check_eq(str(ans.subject['from']), '%s/bob' % room, '%s: subject from' % c.label)


def from_room(room):
    return lambda s: common._jid_bare(s['from']) == room


def ping_iq(c, to):
    iq = c.make_iq_get(ito=to)
    ET.SubElement(iq.xml, '{%s}ping' % common.NS_PING)
    return iq


def carried_sent(body, to):
    def match(s):
        m = s.xml.find('{%s}sent/{%s}forwarded/{%s}message'
                       % (common.NS_CARBONS, common.NS_FORWARD, common.NS_CLIENT))
        if common.local_name(s) != 'message' or m is None:
            return False
        b = m.find('{%s}body' % common.NS_CLIENT)
        return b is not None and b.text == body and m.get('to') == to
    return match


async def scenario(sc):
    A = sc.bare('alice')
    R = 'accountjoin-sessions@conference.' + sc.domain
    me = R + '/alice'

    bob = await sc.login('bob', 'pc', plugins=PLUGINS, record_stanzas=True)
    await bob.create_room(R, 'bob')
    bob['xep_0045'].set_subject(R, SUBJECT)
    subj = await bob.expect('stanza', common.is_subject, 'bob: the subject he set')
    check_eq(subj.xml.find('{%s}subject' % common.NS_CLIENT).text, SUBJECT, 'bob: subject echo')

    phone = await sc.login('alice', 'phone', plugins=PLUGINS, record_stanzas=True)
    laptop = await sc.login('alice', 'laptop', plugins=PLUGINS, record_stanzas=True)
    tablet = await sc.login('alice', 'tablet', record_stanzas=True)
    alices = (phone, laptop)

    log.info('phone joins: the account joins the room')
    ans = await phone.join_room(R, 'alice', 'join-phone')
    check_bob_occupant(phone, ans, R)
    check_self(phone, ans, R, 'alice', 'join-phone')
    check_eq(ans.history, [], 'phone: history of a new room')
    check_eq(sorted(phone['xep_0045'].get_roster(R)), ['alice', 'bob'], 'phone: xep_0045 roster')
    p = await bob.expect('stanza', lambda s: common.is_presence_from(s, me), 'bob: alice enters')
    check_eq(p['type'], 'available', 'bob: type of alice\'s presence')
    it = item_of(p, 'bob')
    check_eq((it.get('jid'), it.get('affiliation'), it.get('role')), (A, 'none', 'participant'),
             'bob (moderator): alice\'s item jid, affiliation, role')
    check('110' not in common.muc_status(p), 'bob got alice\'s 110: %s' % p)
    await bob.quiet('stanza', lambda s: common.is_presence_from(s, me), 'second presence from alice')

    log.info('laptop joins: answered by the server')
    ans = await laptop.join_room(R, 'alice', 'join-laptop')
    check_bob_occupant(laptop, ans, R)
    check_self(laptop, ans, R, 'alice', 'join-laptop')
    check_eq(ans.history, [], 'laptop: history')
    check_eq(sorted(laptop['xep_0045'].get_roster(R)), ['alice', 'bob'], 'laptop: xep_0045 roster')
    await bob.quiet('stanza', lambda s: common.is_presence_from(s, me), 'presence from alice for laptop\'s join')
    await phone.quiet('stanza', from_room(R), 'room stanza for laptop\'s join')

    log.info('bob talks')
    bob.send_groupchat(R, 'hello, alice\'s devices', 'bob-1')
    echo = await bob.expect_groupchat(R, 'hello, alice\'s devices', 'bob: his reflection')
    room_ids = common.stanza_ids(echo).get(R)
    check(room_ids and len(room_ids) == 1, 'bob: reflection without one <stanza-id by=room/>: %s' % echo)
    occ = echo.xml.find('{%s}occupant-id' % common.NS_OCCUPANT_ID)
    for c in alices:
        m = await c.expect_groupchat(R, 'hello, alice\'s devices')
        check_eq(str(m['from']), R + '/bob', '%s: from of bob\'s message' % c.label)
        check_eq(m['id'], 'bob-1', '%s: id of bob\'s message' % c.label)
        ids = common.stanza_ids(m)
        check_eq(ids.get(R), room_ids, '%s: the room\'s <stanza-id/>' % c.label)
        check(ids.get(A) and len(ids[A]) == 1, '%s: no single <stanza-id by=%r/>: %s' % (c.label, A, m))
        if occ is not None:
            got = m.xml.find('{%s}occupant-id' % common.NS_OCCUPANT_ID)
            check(got is not None and got.get('id') == occ.get('id'),
                  '%s: <occupant-id id=%r/> not kept: %s' % (c.label, occ.get('id'), m))
    for c in alices:
        await c.quiet('stanza', lambda s: common.is_groupchat(s, R), 'second copy of bob\'s message')

    log.info('phone talks')
    phone.send_groupchat(R, 'hello from the phone', 'phone-1', origin_id='origin-phone-1')
    m = await bob.expect_groupchat(R, 'hello from the phone')
    check_eq(str(m['from']), me, 'bob: from of alice\'s message')
    for c in alices:
        m = await c.expect_groupchat(R, 'hello from the phone', '%s: reflection' % c.label)
        check_eq(str(m['from']), me, '%s: from of the reflection' % c.label)
        check_eq(m['id'], 'phone-1', '%s: id of the reflection' % c.label)
        o = m.xml.find('{%s}origin-id' % common.NS_SID)
        check(o is not None and o.get('id') == 'origin-phone-1',
              '%s: reflection without <origin-id id=origin-phone-1/>: %s' % (c.label, m))
    await bob.quiet('stanza', lambda s: common.is_groupchat(s, R, 'hello from the phone'), 'second copy')
    for c in alices:
        await c.quiet('stanza', lambda s: common.is_groupchat(s, R), 'second reflection')

    log.info('tablet, not joined, talks')
    tablet.send_groupchat(R, 'tablet was never here', 'tablet-1')
    e = await tablet.expect('stanza', lambda s: common.local_name(s) == 'message' and s['id'] == 'tablet-1',
                            'tablet: error for its groupchat')
    check_eq((e['type'], e['error']['condition']), ('error', 'not-acceptable'), 'tablet: its groupchat refused')
    for c in (bob, phone, laptop):
        await c.quiet('stanza', lambda s: common.is_groupchat(s, R, 'tablet was never here'),
                      'tablet\'s groupchat')

    log.info('private messages')
    pm = bob.make_message(mto=me, mbody='psst, alice', mtype='chat')
    pm['id'] = 'pm-bob'
    ET.SubElement(pm.xml, '{%s}x' % common.NS_MUC_USER)
    pm.send()
    for c in alices:
        m = await c.expect('stanza', lambda s: common.local_name(s) == 'message' and s['body'] == 'psst, alice',
                           '%s: bob\'s private message' % c.label)
        check_eq((str(m['from']), str(m['to']), m['type'], m['id']), (R + '/bob', c.boundjid.full, 'chat', 'pm-bob'),
                 '%s: from, to, type, id of the private message' % c.label)
    pm = phone.make_message(mto=R + '/bob', mbody='psst, bob', mtype='chat')
    pm['id'] = 'pm-phone'
    ET.SubElement(pm.xml, '{%s}x' % common.NS_MUC_USER)
    pm.send()
    m = await bob.expect('stanza', lambda s: common.local_name(s) == 'message' and s['body'] == 'psst, bob',
                         'bob: alice\'s private message')
    check_eq((str(m['from']), m['type']), (me, 'chat'), 'bob: from, type of alice\'s private message')
    await laptop.expect('stanza', carried_sent('psst, bob', R + '/bob'), 'laptop: <sent/> copy of phone\'s PM')
    for c in alices:
        await c.quiet('stanza', lambda s: common.local_name(s) == 'message' and 'psst' in (s['body'] or ''),
                      'second copy of a private message')

    log.info('self-pings')
    res = await ping_iq(laptop, me).send(timeout=common.WAIT)
    check_eq((res['type'], str(res['from'])), ('result', me), 'laptop: self-ping answer')
    try:
        res = await ping_iq(tablet, me).send(timeout=common.WAIT)
        common.fail('tablet: self-ping answered although tablet did not join: %s' % res)
    except IqError as e:
        check_eq(e.iq['error']['condition'], 'not-acceptable', 'tablet: self-ping error')

    log.info('laptop leaves')
    leave = laptop.make_presence(pto=me, ptype='unavailable')
    leave['id'] = 'leave-laptop'
    leave.send()
    p = await laptop.expect('stanza', lambda s: common.is_presence_from(s, me, 'unavailable'),
                            'laptop: its leave answered')
    check('110' in common.muc_status(p), 'laptop: leave answer without 110: %s' % p)
    check_eq((p['id'], str(p['to'])), ('leave-laptop', laptop.boundjid.full), 'laptop: id, to of the leave answer')
    await bob.quiet('stanza', lambda s: common.is_presence_from(s, me), 'presence from alice after laptop left')
    await phone.quiet('stanza', lambda s: common.is_presence_from(s, me), 'own presence after laptop left')
    bob.send_groupchat(R, 'the laptop is gone', 'bob-2')
    await bob.expect_groupchat(R, 'the laptop is gone', 'bob: his reflection')
    await phone.expect_groupchat(R, 'the laptop is gone')
    await laptop.quiet('stanza', from_room(R), 'room traffic after leaving')

    log.info('phone\'s connection is cut')
    phone.cut()
    # Rule 11: with no session joined the account may show as xa, but it
    # must not leave.
    not_xa = lambda s: (common.is_presence_from(s, me)
                        and not (s['type'] == 'xa' or s['show'] == 'xa'))
    try:
        p = await bob.expect('stanza', lambda s: common.is_presence_from(s, me), 'xa', timeout=2.0)
    except common.ScenarioFailed:
        p = None
        log.info('bob sees no presence from alice')
    if p is not None:
        check(not not_xa(p), 'bob: alice\'s presence after phone\'s cut is not xa: %s' % p)
        log.info('bob sees alice as xa')
    bob.send_groupchat(R, 'while nobody listens', 'bob-3')
    await bob.expect_groupchat(R, 'while nobody listens', 'bob: his reflection')
    await bob.quiet('stanza', not_xa, 'presence from alice (other than xa) after phone\'s cut')

    log.info('phone comes back; phone and laptop join again')
    phone = await sc.login('alice', 'phone', plugins=PLUGINS, record_stanzas=True)
    ans = await phone.join_room(R, 'alice', 'rejoin-phone', history={'maxstanzas': 2})
    check_bob_occupant(phone, ans, R)
    # The server answers with the account's presence in the room as it
    # stands, xa while no session was joined; phone's join then makes it
    # available, and the room's new self-presence follows (rule 11).
    check_self(phone, ans, R, 'alice', 'rejoin-phone', show=ans.self['show'])
    # The synthesised self-presence shows the joining session's own
    # presence, not the account's offline xa; the room then reflects the
    # account coming back from xa to every joined session.
    check_eq(ans.self['show'], '', 'phone: show of its synthesised self-presence')
    p = await phone.expect('stanza', lambda s: common.is_presence_from(s, me)
                           and '110' in common.muc_status(s), 'phone: self-presence back from xa')
    check_eq((p['type'], p['show']), ('available', ''), 'phone: self-presence after joining')
    check_eq(ans.history_bodies(), ['the laptop is gone', 'while nobody listens'],
             'phone: history (maxstanzas=2) from the account archive')
    ans = await laptop.join_room(R, 'alice', 'rejoin-laptop', history={'maxchars': 0})
    check_bob_occupant(laptop, ans, R)
    check_self(laptop, ans, R, 'alice', 'rejoin-laptop')
    check_eq(ans.history, [], 'laptop: history with maxchars=0')
    alices = (phone, laptop)
    await bob.quiet('stanza', lambda s: common.is_presence_from(s, me) and (
        s['type'] == 'unavailable' or '110' in common.muc_status(s)),
        'alice leaving (or a join) when her sessions came back')
    bob.take('stanza', lambda s: common.is_presence_from(s, me))  # back from xa

    log.info('bob kicks alice')
    await bob['xep_0045'].set_role(R, 'alice', 'none', reason=KICK_REASON, timeout=common.WAIT)
    for c in alices:
        p = await c.expect('stanza', lambda s: common.is_presence_from(s, me, 'unavailable'),
                           '%s: its kick' % c.label)
        check(common.muc_status(p) >= {'110', '307'}, '%s: kick without 110 and 307: %s' % (c.label, p))
        check_eq(str(p['to']), c.boundjid.full, '%s: to of the kick' % c.label)
        reason = item_of(p, c.label).find('{%s}reason' % common.NS_MUC_USER)
        check(reason is not None and reason.text == KICK_REASON, '%s: kick reason lost: %s' % (c.label, p))
    p = await bob.expect('stanza', lambda s: common.is_presence_from(s, me, 'unavailable'), 'bob: alice kicked')
    check('307' in common.muc_status(p), 'bob: alice\'s unavailable without 307: %s' % p)
    for c in alices:
        await c.quiet('stanza', lambda s: common.is_presence_from(s, me), 'second kick')

    log.info('tablet saw nothing of the room')
    await tablet.quiet('stanza', from_room(R), 'room traffic on a session that never joined')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
