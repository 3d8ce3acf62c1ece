#!/usr/bin/python3
"""Push: XEP-0357 push notifications to an app server running as a component.

Accounts: alice, bob.

The server runs with the external component push.localhost (the scenario
table's options in interop_test.go); this scenario connects it with
slixmpp's ComponentXMPP as the app server, which answers every publish
with a result and records it. slixmpp 1.8.3 has no xep_0357 plugin, so
alice's requests are built by hand.

- alice's bare JID advertises urn:xmpp:push:0 in disco#info.
- alice's phone enables push to push.localhost, node "phone-node", with a
  publish-options form carrying a secret, and tells the server it is
  inactive (XEP-0352). bob's chat message then reaches the app server as
  an iq set from alice's bare JID: a publish to the node, an item with
  <notification xmlns='urn:xmpp:push:0'> holding the urn:xmpp:push:summary
  form (message-count 1, last-message-sender bob's full JID, no body) and
  the publish options with the secret.
- Active again, the phone gets bob's next message and the app server
  nothing; inactive again, the next one is published with message-count 1.
- In a room (account-based group chat) the phone joins and then
  disconnects: the account stays, and bob's groupchat message mentioning
  alice's nick is published with the occupant JID as sender; one without
  the mention is not.
- After <disable/>, bob's messages publish nothing.
"""

from xml.etree import ElementTree as ET

import common
from common import check, check_eq, log
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS = 'urn:xmpp:push:0'
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options'
NS_DATA = 'jabber:x:data'
NS_CSI = 'urn:xmpp:csi:0'
APP = 'push.localhost'


def form_fields(x):
    out = {}
    if x is None:
        return out
    for f in x.findall('{%s}field' % NS_DATA):
        v = f.find('{%s}value' % NS_DATA)
        out[f.get('var')] = v.text if v is not None else ''
    return out


def is_publish(st):
    return (common.local_name(st) == 'iq' and st['type'] == 'set'
            and st.xml.find('{%s}pubsub/{%s}publish' % (NS_PUBSUB, NS_PUBSUB)) is not None)


def app_server(app):
    """Makes app answer every publish with a result, as an app server
    does (left alone, slixmpp answers feature-not-implemented, which
    rightly makes the server disable the registration)."""
    def answer(iq):
        app.make_iq_result(iq['id'], ito=iq['from'], ifrom=APP).send()
    app.register_handler(Callback('push publish', MatchXPath('{%s}iq/{%s}pubsub' % (common.NS_COMPONENT, NS_PUBSUB)), answer))


async def next_publish(app):
    """The app server's next publish: (node, summary fields, publish
    options fields)."""
    st = await app.expect('stanza', is_publish, 'a publish at the app server')
    check_eq(st['from'].full, 'alice@' + app.server_domain, 'publish from (the bare JID)')
    pub = st.xml.find('{%s}pubsub/{%s}publish' % (NS_PUBSUB, NS_PUBSUB))
    x = pub.find('{%s}item/{%s}notification/{%s}x' % (NS_PUBSUB, NS, NS_DATA))
    check(x is not None, 'no summary form in %s' % st)
    opts = st.xml.find('{%s}pubsub/{%s}publish-options/{%s}x' % (NS_PUBSUB, NS_PUBSUB, NS_DATA))
    return pub.get('node'), form_fields(x), form_fields(opts)


async def scenario(sc):
    A, B = sc.bare('alice'), sc.bare('bob')
    app = sc.component(APP)
    app_server(app)
    await app.start()
    phone = await sc.login('alice', 'phone', plugins=('xep_0030',), record_stanzas=True)
    bob = await sc.login('bob', 'pc', plugins=('xep_0045',), record_stanzas=True)

    info = await phone['xep_0030'].get_info(jid=A, timeout=common.WAIT)
    check(NS in info['disco_info']['features'], 'alice@ does not advertise %s' % NS)

    log.info('phone enables push and goes inactive')
    iq = phone.make_iq_set()
    en = ET.SubElement(iq.xml, '{%s}enable' % NS, jid=APP, node='phone-node')
    x = ET.SubElement(en, '{%s}x' % NS_DATA, type='submit')
    for var, value in (('FORM_TYPE', NS_OPTIONS), ('secret', 'eruio234vzxc2kla-91')):
        f = ET.SubElement(x, '{%s}field' % NS_DATA, var=var)
        ET.SubElement(f, '{%s}value' % NS_DATA).text = value
    await iq.send(timeout=common.WAIT)

    def csi(state):
        phone.send_raw('<%s xmlns="%s"/>' % (state, NS_CSI))
    csi('inactive')
    await phone.barrier()

    bob.send_message(mto=A, mbody='wake up', mtype='chat')
    node, summary, opts = await next_publish(app)
    check_eq(node, 'phone-node', 'publish node')
    check_eq(summary.get('FORM_TYPE'), 'urn:xmpp:push:summary', 'summary FORM_TYPE')
    check_eq(summary.get('message-count'), '1', 'message-count')
    check_eq(summary.get('last-message-sender'), B + '/pc', 'last-message-sender')
    check('last-message-body' not in summary, 'the body was published: %s' % summary)
    check_eq(opts.get('FORM_TYPE'), NS_OPTIONS, 'publish-options FORM_TYPE')
    check_eq(opts.get('secret'), 'eruio234vzxc2kla-91', 'publish-options secret')

    log.info('active: no push')
    csi('active')
    await phone.barrier()
    bob.send_message(mto=A, mbody='you are here', mtype='chat')
    await phone.expect_message('you are here')
    await app.quiet('stanza', is_publish, 'a publish while the phone is active')
    csi('inactive')
    await phone.barrier()
    bob.send_message(mto=A, mbody='asleep again', mtype='chat')
    _, summary, _ = await next_publish(app)
    check_eq(summary.get('message-count'), '1', 'message-count after being active')

    log.info('a room: the account stays when the phone goes')
    room = 'pushroom@conference.' + sc.domain
    await bob.create_room(room, 'bo')
    await phone.join_room(room, 'al', 'j1')
    await phone.close()
    # The server answers the closing tag before it ends the session; an
    # iq to the session comes back once it has (queued ones are bounced
    # when it ends).
    try:
        await bob['xep_0199'].send_ping(A + '/phone', timeout=common.WAIT)
        common.fail('the closed session answered a ping')
    except IqError as e:
        check_eq(e.iq['error']['condition'], 'service-unavailable', 'ping to the closed session')
    bob.send_groupchat(room, 'anyone here?', 'g1')
    await bob.expect_groupchat(room, 'anyone here?')
    bob.send_groupchat(room, 'al, are you there?', 'g2')
    _, summary, _ = await next_publish(app)
    check_eq(summary.get('last-message-sender'), room + '/bo', 'sender of the room message')
    check_eq(summary.get('message-count'), '2', 'message-count (only the mention)')

    log.info('disable')
    laptop = await sc.login('alice', 'laptop')
    iq = laptop.make_iq_set()
    ET.SubElement(iq.xml, '{%s}disable' % NS, jid=APP)
    await iq.send(timeout=common.WAIT)
    bob.send_message(mto=A, mbody='after disable', mtype='chat')
    await laptop.expect_message('after disable')
    await app.quiet('stanza', is_publish, 'a publish after disable')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
