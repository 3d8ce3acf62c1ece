#!/usr/bin/python3
"""MUC registration: XEP-0045 7.10, 7.12 and 9.3 through slixmpp's xep_0077, xep_0030 and xep_0045 plugins.

Accounts: alice, bob, carol.

- alice creates a room; it advertises jabber:iq:register.
- bob asks the room for its registration form (xep_0077): a
  muc#register form with a required muc#register_roomnick; he submits
  it with the nick "Bobby" and is a member (alice's member list) whose
  reserved nick the x-roomuser-item node names (xep_0030); asked again,
  the room says he is registered, as Bobby.
- carol's join as "bobby" is refused with conflict; as Carol she gets in.
- alice makes carol a member reserving "Caro" (xep_0045 set_affiliation
  with jid and nick): carol's x-roomuser-item names Caro.
"""

from xml.etree import ElementTree as ET

from slixmpp import JID

import common
from common import check, check_eq, log

NS_REGISTER = 'jabber:iq:register'
NS_DATA = 'jabber:x:data'
NS_DISCO = 'http://jabber.org/protocol/disco#info'
PLUGINS = ('xep_0045', 'xep_0030', 'xep_0004', 'xep_0077')


async def reserved_nick(c, room):
    info = await c['xep_0030'].get_info(jid=room, node='x-roomuser-item', cached=False, timeout=common.WAIT)
    ids = info['disco_info']['identities']
    return [name for (cat, typ, _lang, name) in ids if cat == 'conference' and typ == 'text']


async def scenario(sc):
    room = 'registered@conference.' + sc.domain
    alice = await sc.login('alice', 'home', plugins=PLUGINS, record_stanzas=True)
    bob = await sc.login('bob', 'work', plugins=PLUGINS, record_stanzas=True)
    carol = await sc.login('carol', 'pad', plugins=PLUGINS, record_stanzas=True)
    await alice.create_room(room, 'Alice')

    info = await bob['xep_0030'].get_info(jid=room, cached=False, timeout=common.WAIT)
    check(NS_REGISTER in info['disco_info']['features'], 'room lacks %s' % NS_REGISTER)

    log.info('bob registers as Bobby')
    res = await bob['xep_0077'].get_registration(jid=room, timeout=common.WAIT)
    x = res.xml.find('{%s}query/{%s}x' % (NS_REGISTER, NS_DATA))
    check(x is not None, 'no form: %s' % res)
    fields = {f.get('var'): f for f in x.findall('{%s}field' % NS_DATA)}
    check('muc#register_roomnick' in fields and fields['muc#register_roomnick'].find('{%s}required' % NS_DATA) is not None,
          'no required muc#register_roomnick: %s' % res)
    iq = bob.make_iq_set(ito=room)
    q = ET.SubElement(iq.xml, '{%s}query' % NS_REGISTER)
    form = ET.SubElement(q, '{%s}x' % NS_DATA, type='submit')
    for var, value in (('FORM_TYPE', 'http://jabber.org/protocol/muc#register'), ('muc#register_roomnick', 'Bobby')):
        f = ET.SubElement(form, '{%s}field' % NS_DATA, var=var)
        ET.SubElement(f, '{%s}value' % NS_DATA).text = value
    await iq.send(timeout=common.WAIT)
    check_eq(await reserved_nick(bob, room), ['Bobby'], "bob's reserved nick")
    res = await bob['xep_0077'].get_registration(jid=room, timeout=common.WAIT)
    q = res.xml.find('{%s}query' % NS_REGISTER)
    check(q.find('{%s}registered' % NS_REGISTER) is not None, 'not registered: %s' % res)
    check_eq(q.findtext('{%s}username' % NS_REGISTER), 'Bobby', 'registered username')
    members = await alice['xep_0045'].get_affiliation_list(JID(room), 'member', timeout=common.WAIT)
    check_eq([str(j) for j in members], [sc.bare('bob')], 'member list')

    log.info("carol cannot take bob's nick")
    carol.send_join(room, 'bobby', 'join-taken')
    err = await carol.expect('stanza', lambda s: common.local_name(s) == 'presence' and s['type'] == 'error'
                             and s['id'] == 'join-taken', 'the refusal')
    check_eq(err['error']['condition'], 'conflict', 'join under a reserved nick')
    await carol.join_room(room, 'Carol', 'join-carol')

    log.info('alice reserves Caro for carol')
    await alice['xep_0045'].set_affiliation(JID(room), 'member', jid=JID(sc.bare('carol')), nick='Caro', timeout=common.WAIT)
    check_eq(await reserved_nick(carol, room), ['Caro'], "carol's reserved nick")


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
