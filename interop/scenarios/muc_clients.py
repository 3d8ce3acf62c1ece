#!/usr/bin/python3
"""MUC as clients see it: what mcabber, profanity and aioxmpp tripped over (issue 10).

Accounts: alice, bob.

Plain XEP-0045 expectations, which minimix (with account join, the
default) and Prosody (MINIMIX_INTEROP_PROSODY=1) must both meet. alice is
online twice, phone and laptop.

- alice's phone creates room B (201) and configures it; her laptop then
  joins B: its self-presence has 110 but not the 201 of the creation nor a
  210 (issue 10 item 4). bob joins B.
- laptop leaves B: its leave is answered; bob sees nothing. phone leaves B
  and joins again at once (two stanzas back to back): it gets the leave's
  answer, then the join's (self-presence with the join id, subject); bob
  sees alice leave and come back; bob's next message reaches phone
  (issue 9 item 3).
- bob creates room A; phone joins it and changes its nick with a presence
  that carries <x xmlns='http://jabber.org/protocol/muc'/>, as mcabber
  does: phone and bob see the 303 and the new nick, and phone's new
  self-presence does not say the room changed its nick (210) (issue 10
  item 3).
- bob asks alice's occupant JID for its software version: the room
  relays it to phone, which answers; bob gets phone's answer from alice's
  occupant JID (issue 10 item 2).
- laptop joins A too; phone sends a private message to an occupant that
  is not there: the error reaches phone, with the message's id, and not
  laptop (issue 10 item 7).
- bob destroys A with a reason and an alternate venue: phone and laptop
  each get the unavailable presence with <destroy/> (reason, jid) and
  status 110 (XEP-0045 10.9); phone's next join of A creates the room
  anew (201): nothing of the old room answers it (issue 10 item 6).
"""

from xml.etree import ElementTree as ET

import common
from common import check, check_eq, log

PLUGINS = ('xep_0045', 'xep_0092')
NS_VERSION = 'jabber:iq:version'


def presence_from(occupant, ptype=None):
    return lambda s: common.is_presence_from(s, occupant, ptype)


def destroy_of(p):
    return p.xml.find('{%s}x/{%s}destroy' % (common.NS_MUC_USER, common.NS_MUC_USER))


async def login(sc, name, resource):
    c = await sc.login(name, resource, plugins=PLUGINS, record_stanzas=True)
    c['xep_0092'].software_name = 'interop %s' % resource
    c['xep_0092'].version = '1'
    return c


async def scenario(sc):
    A = 'clients-a@conference.' + sc.domain
    B = 'clients-b@conference.' + sc.domain
    bob = await login(sc, 'bob', 'pc')
    phone = await login(sc, 'alice', 'phone')
    laptop = await login(sc, 'alice', 'laptop')

    log.info('issue 10 item 4: a later session is not told of the room\'s creation')
    await phone.create_room(B, 'alice')
    ans = await laptop.join_room(B, 'alice', 'join-laptop-b')
    codes = common.muc_status(ans.self)
    check('110' in codes, 'laptop: self-presence without 110: %s' % ans.self)
    check('201' not in codes and '210' not in codes,
          'laptop: self-presence replays the creation (201) or a nick change (210): %s' % ans.self)
    await bob.join_room(B, 'bob', 'join-bob-b')
    phone.take('stanza')
    laptop.take('stanza')

    log.info('issue 9 item 3: a leave and a join at once')
    leave = laptop.make_presence(pto=B + '/alice', ptype='unavailable')
    leave['id'] = 'leave-laptop-b'
    leave.send()
    await laptop.expect('stanza', lambda s: presence_from(B + '/alice', 'unavailable')(s)
                        and s['id'] == 'leave-laptop-b', 'laptop: its leave answered')
    # (Prosody updates alice's presence for the others and phone here.)
    await bob.quiet('stanza', presence_from(B + '/alice', 'unavailable'), 'alice leaving when laptop left')
    await phone.barrier()
    phone.take('stanza')
    bob.take('stanza')
    leave = phone.make_presence(pto=B + '/alice', ptype='unavailable')
    leave['id'] = 'leave-phone-b'
    leave.send()
    phone.send_join(B, 'alice', 'rejoin-phone-b', history={'maxchars': 0})
    p = await phone.expect('stanza', presence_from(B + '/alice'), 'phone: the answer to its leave')
    check_eq((p['type'], p['id']), ('unavailable', 'leave-phone-b'), 'phone: type, id of the first answer')
    ans = await phone.expect_join(B, 'rejoin-phone-b')
    check_eq(ans.self['type'], 'available', 'phone: type of the rejoin\'s self-presence')
    await bob.expect('stanza', presence_from(B + '/alice', 'unavailable'), 'bob: alice leaves')
    await bob.expect('stanza', presence_from(B + '/alice', 'available'), 'bob: alice comes back')
    bob.send_groupchat(B, 'still here?', 'bob-b-1')
    await phone.expect_groupchat(B, 'still here?', 'phone: bob\'s message after its rejoin')
    await phone.quiet('stanza', presence_from(B + '/alice', 'unavailable'), 'phone: a late unavailable')

    log.info('issue 10 item 3: a nick change sent with <x xmlns=muc/>')
    await bob.create_room(A, 'bob')
    await phone.join_room(A, 'alice', 'join-phone-a')
    await bob.expect('stanza', presence_from(A + '/alice', 'available'), 'bob: alice joins')
    change = phone.make_presence(pto=A + '/alice2')
    change['id'] = 'nick-phone'
    ET.SubElement(change.xml, '{%s}x' % common.NS_MUC)
    change.send()
    for c in (phone, bob):
        p = await c.expect('stanza', presence_from(A + '/alice', 'unavailable'), '%s: the 303' % c.label)
        check('303' in common.muc_status(p), '%s: nick change without 303: %s' % (c.label, p))
        check_eq(common.muc_item(p).get('nick'), 'alice2', '%s: new nick in the 303' % c.label)
        p = await c.expect('stanza', presence_from(A + '/alice2', 'available'), '%s: the new nick' % c.label)
        if c is phone:
            # Not "the room has changed your nick" (210): phone asked for it.
            check('110' in common.muc_status(p) and '210' not in common.muc_status(p),
                  'phone: its new self-presence: %s' % p)
    # (Prosody also resends the occupants and the subject to a session
    # whose presence carried <x/>, as for a client that lost track;
    # minimix does not. Neither is a join: nobody saw alice leave.)
    await phone.barrier()
    phone.take('stanza')

    log.info('issue 10 item 2: an occupant asks alice for her software version')
    iq = bob.make_iq_get(ito=A + '/alice2')
    ET.SubElement(iq.xml, '{%s}query' % NS_VERSION)
    res = await iq.send(timeout=common.WAIT)
    check_eq(str(res['from']), A + '/alice2', 'bob: from of the version answer')
    name = res.xml.find('{%s}query/{%s}name' % (NS_VERSION, NS_VERSION))
    check(name is not None and name.text == 'interop phone', 'bob: the answer is not phone\'s: %s' % res)

    log.info('issue 10 item 7: an error for one session\'s stanza')
    await laptop.join_room(A, 'alice2', 'join-laptop-a')
    phone.take('stanza')
    pm = phone.make_message(mto=A + '/nobody', mbody='anyone there?', mtype='chat')
    pm['id'] = 'pm-nobody'
    ET.SubElement(pm.xml, '{%s}x' % common.NS_MUC_USER)
    pm.send()
    e = await phone.expect('stanza', lambda s: common.local_name(s) == 'message' and s['id'] == 'pm-nobody',
                           'phone: the error for its private message')
    check_eq((e['type'], e['error']['condition']), ('error', 'item-not-found'), 'phone: the error')
    await laptop.quiet('stanza', lambda s: common.local_name(s) == 'message' and s['type'] == 'error',
                       'laptop: the error for phone\'s message')

    log.info('issue 10 item 6: bob destroys the room')
    alt = 'elsewhere@conference.' + sc.domain
    await bob['xep_0045'].destroy(A, reason='moving on', altroom=alt, timeout=common.WAIT)
    for c in (phone, laptop):
        p = await c.expect('stanza', lambda s: presence_from(A + '/alice2', 'unavailable')(s)
                           and destroy_of(s) is not None, '%s: the destroy' % c.label)
        d = destroy_of(p)
        reason = d.find('{%s}reason' % common.NS_MUC_USER)
        check_eq((d.get('jid'), reason.text if reason is not None else None), (alt, 'moving on'),
                 '%s: alternate venue and reason' % c.label)
        check('110' in common.muc_status(p), '%s: destroy presence without 110: %s' % (c.label, p))
        check_eq(str(p['to']), c.boundjid.full, '%s: to of the destroy' % c.label)
    await phone.create_room(A, 'alice')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
