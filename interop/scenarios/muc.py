#!/usr/bin/python3
"""MUC: a XEP-0045 room through slixmpp's xep_0045 plugin.

Accounts: alice, bob.

alice creates a room by joining it (status 201 and 110 in her own
presence, then the empty subject), fetches its configuration form and
submits it with a name and non-anonymous whois; the room's disco#info then
shows the name. bob joins with history limited to 10 stanzas: he sees
alice's presence first, his own (110) last among presences, then the
subject. alice says something in the room: both get it from
room/Alice, with a <stanza-id by=room/> and an <occupant-id/>. bob changes
his nick to Robert: alice sees an unavailable presence from room/Bob with
303 and nick Robert, then a presence from room/Robert. alice kicks Robert:
bob gets an unavailable presence with 307. alice destroys the room with a
reason: she gets the <destroy/>, and the room's disco#info is then
item-not-found.
"""

import common
from common import check, check_eq, log
from slixmpp.exceptions import IqError

NS_USER = 'http://jabber.org/protocol/muc#user'
NS_SID = 'urn:xmpp:sid:0'
NS_OCC = 'urn:xmpp:occupant-id:0'
PLUGINS = ('xep_0045', 'xep_0030', 'xep_0004')


def codes(p):
    return p['muc']['status_codes']


def item(p):
    return p.xml.find('{%s}x/{%s}item' % (NS_USER, NS_USER))


async def scenario(sc):
    room = 'interop@conference.' + sc.domain
    alice = await sc.login('alice', 'home', plugins=PLUGINS)
    bob = await sc.login('bob', 'work', plugins=PLUGINS)
    for c in (alice, bob):
        # slixmpp stops raising 'presence' for an occupant JID once its
        # MUC plugin has seen it; its own event sees them all.
        c.add_event_handler('groupchat_presence', c._recorder('groupchat_presence'))

    log.info('alice creates %s', room)
    pres, subject, occupants, history = await alice['xep_0045'].join_muc_wait(
        room, 'Alice', maxstanzas=0, timeout=common.WAIT)
    check(201 in codes(pres) and 110 in codes(pres), 'creation codes: %s' % pres)
    check_eq(subject['subject'], '', 'subject of a new room')
    # slixmpp counts the user's own presence among the occupants.
    check_eq([o['from'].resource for o in occupants], ['Alice'], 'occupants of a new room')

    log.info('alice configures it')
    form = await alice['xep_0045'].get_room_config(room, timeout=common.WAIT)
    fields = form.get_fields()
    wanted = ['muc#roomconfig_roomname', 'muc#roomconfig_persistentroom', 'muc#roomconfig_whois',
              'muc#roomconfig_membersonly', 'muc#roomconfig_moderatedroom']
    if sc.minimix:
        wanted.append('muc#roomconfig_allowpm')  # registered by XEP-0045, offered by minimix, not by Prosody
    for var in wanted:
        check(var in fields, 'configuration form lacks %s' % var)
    form.set_values({'muc#roomconfig_roomname': 'Interop Room', 'muc#roomconfig_whois': 'anyone'})
    await alice['xep_0045'].set_room_config(room, form, timeout=common.WAIT)
    info = await bob['xep_0030'].get_info(jid=room, timeout=common.WAIT)
    names = [i[3] for i in info['disco_info']['identities']]  # (category, type, lang, name)
    check_eq(names, ['Interop Room'], 'room name in disco#info')
    check('muc_nonanonymous' in info['disco_info']['features'], 'features: %s' % info)

    log.info('bob joins')
    pres, subject, occupants, history = await bob['xep_0045'].join_muc_wait(
        room, 'Bob', maxstanzas=10, timeout=common.WAIT)
    check(110 in codes(pres), 'bob own presence: %s' % pres)
    check(100 in codes(pres), 'non-anonymous room code 100: %s' % pres)
    check_eq([o['from'].resource for o in occupants], ['Alice', 'Bob'], 'occupants bob saw, his own last')
    await alice.expect('groupchat_presence', lambda p: p['from'].full == room + '/Bob' and p['type'] == 'available',
                       'bob in the room')

    log.info('alice speaks')
    m = alice.make_message(mto=room, mbody='hello interop room', mtype='groupchat')
    m['id'] = 'muc-1'
    m.send()
    for c in (alice, bob):
        got = await c.expect_message('hello interop room')
        check_eq(got['from'].full, room + '/Alice', '%s: message from' % c.label)
        check_eq(got['id'], 'muc-1', '%s: message id' % c.label)
        sid = got.xml.find('{%s}stanza-id' % NS_SID)
        check(sid is not None and sid.get('by') == room and sid.get('id'),
              '%s: stanza-id by the room: %s' % (c.label, got))
        check(got.xml.find('{%s}occupant-id' % NS_OCC) is not None, '%s: occupant-id: %s' % (c.label, got))

    log.info('bob becomes Robert')
    bob.send_presence(pto=room + '/Robert')
    gone = await alice.expect('groupchat_presence', lambda p: p['from'].full == room + '/Bob' and p['type'] == 'unavailable',
                              'the 303 for bob')
    check(303 in codes(gone), '303: %s' % gone)
    check_eq(item(gone).get('nick'), 'Robert', 'new nick in the 303')
    await alice.expect('groupchat_presence', lambda p: p['from'].full == room + '/Robert' and p['type'] == 'available',
                       'Robert')

    log.info('alice kicks Robert')
    await alice['xep_0045'].set_role(room, 'Robert', 'none', reason='interop test', timeout=common.WAIT)
    kicked = await bob.expect('groupchat_presence', lambda p: p['from'].full == room + '/Robert' and p['type'] == 'unavailable',
                              'kick')
    check(307 in codes(kicked), '307: %s' % kicked)

    log.info('alice destroys the room')
    await alice['xep_0045'].destroy(room, reason='done', timeout=common.WAIT)
    d = await alice.expect('groupchat_presence', lambda p: p['from'].bare == room and p['type'] == 'unavailable'
                           and p.xml.find('{%s}x/{%s}destroy' % (NS_USER, NS_USER)) is not None,
                           'the destroy presence')
    reason = d.xml.find('{%s}x/{%s}destroy/{%s}reason' % (NS_USER, NS_USER, NS_USER))
    check(reason is not None and reason.text == 'done', 'destroy reason: %s' % d)
    try:
        await bob['xep_0030'].get_info(jid=room, timeout=common.WAIT, cached=False)
        common.fail('the destroyed room still answers disco#info')
    except IqError as e:
        check_eq(e.iq['error']['condition'], 'item-not-found', 'disco#info of a destroyed room')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
