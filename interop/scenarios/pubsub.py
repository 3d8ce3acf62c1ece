#!/usr/bin/python3
"""Pubsub: the generic publish-subscribe service (XEP-0060) at pubsub.DOMAIN.

Accounts: alice, bob, carol.

Through slixmpp's xep_0060 plugin, as aioxmpp's and other clients' pubsub
code does. The server's disco#items lists pubsub.DOMAIN; its disco#info
has the pubsub/service identity and create-nodes, delete-nodes, publish,
purge-nodes, modify-affiliations and publisher-affiliation (which the
server's own JID, with PEP's features, lacks: aioxmpp picks the service
with the most of those). alice creates a node with a configuration form;
bob subscribes his full JID and gets the subscription back; carol
subscribes her bare JID. alice publishes with an id and without one (the
service gives one): bob and carol get each notification once, from the
service, with the payload. Retrieval: both items in order, max_items=1 the
newest, by id. alice retracts one with notify: bob gets the retraction.
bob unsubscribes: alice's next item reaches carol only. bob may not
publish (forbidden). A whitelist node: bob's subscribe is refused with
not-allowed and <closed-node/> until alice makes him a member
(modify_affiliations). With pubsub#deliver_payloads off, the notification
has no payload. alice purges: bob gets a purge event, then the node has
no items; alice deletes: bob gets a delete event, and the node is
item-not-found.
"""

from xml.etree import ElementTree as ET

import common
from common import check, check_eq, fail, log
from slixmpp.exceptions import IqError

NS = 'http://jabber.org/protocol/pubsub'
NS_EVENT = NS + '#event'
NS_ERRORS = NS + '#errors'
NS_TEST = 'urn:example:interop'
PLUGINS = ('xep_0004', 'xep_0030', 'xep_0060')
AIOXMPP_WANTS = ('create-nodes', 'delete-nodes', 'publish', 'purge-nodes',
                 'modify-affiliations', 'publisher-affiliation')


def record_events(c):
    """Records slixmpp's pubsub events (notifications come as those, not
    as 'message', which slixmpp raises only for messages with a body)."""
    for ev in ('pubsub_publish', 'pubsub_retract', 'pubsub_purge', 'pubsub_delete'):
        c.add_event_handler(ev, c._recorder(ev))


def payload(text):
    e = ET.Element('{%s}entry' % NS_TEST)
    e.text = text
    return e


def event_items(m, node, tag):
    items = m.xml.find('{%s}event/{%s}items' % (NS_EVENT, NS_EVENT))
    if items is None or items.get('node') != node:
        return []
    return items.findall('{%s}%s' % (NS_EVENT, tag))


def is_item(node, item_id):
    return lambda m: any(i.get('id') == item_id for i in event_items(m, node, 'item'))


def errors_of(e):
    err = e.iq.xml.find('{jabber:client}error')
    app = None
    if err is not None:
        for c in err:
            if c.tag.startswith('{%s}' % NS_ERRORS):
                app = c.tag.split('}')[1]
    return e.iq['error']['condition'], app


def config_form(c, **fields):
    form = c['xep_0004'].make_form(ftype='submit')
    for var, value in fields.items():
        form.add_field(var='pubsub#' + var, value=value)
    return form


async def scenario(sc):
    d = sc.domain
    svc = 'pubsub.' + d
    alice = await sc.login('alice', 'pc', plugins=PLUGINS)
    bob = await sc.login('bob', 'pc', plugins=PLUGINS)
    carol = await sc.login('carol', 'pc', plugins=PLUGINS)
    for c in (alice, bob, carol):
        record_events(c)

    items = await alice['xep_0030'].get_items(jid=d, timeout=common.WAIT)
    check(svc in [str(i[0]) for i in items['disco_items']['items']], 'the server does not list %s' % svc)
    info = await alice['xep_0030'].get_info(jid=svc, timeout=common.WAIT)
    ids = {(i[0], i[1]) for i in info['disco_info']['identities']}
    check(('pubsub', 'service') in ids, 'identities %s' % ids)
    features = set(info['disco_info']['features'])
    server = set((await alice['xep_0030'].get_info(jid=d, timeout=common.WAIT))['disco_info']['features'])
    want = {NS + '#' + f for f in AIOXMPP_WANTS}
    check(want <= features, 'the service lacks %s' % sorted(want - features))
    check(len(want & server) < len(want & features),
          'the server JID offers as many of aioxmpp\'s features as the service')
    log.info('discovery: %s with %d features', svc, len(features))

    await alice['xep_0060'].create_node(svc, 'news', config=config_form(alice, title='News'), timeout=common.WAIT)
    iq = await bob['xep_0060'].subscribe(svc, 'news', bare=False, timeout=common.WAIT)
    sub = iq['pubsub']['subscription']
    check_eq((sub['node'], str(sub['jid']), sub['subscription']), ('news', bob.boundjid.full, 'subscribed'), 'subscription')
    await carol['xep_0060'].subscribe(svc, 'news', timeout=common.WAIT)

    await alice['xep_0060'].publish(svc, 'news', id='first', payload=payload('one'), timeout=common.WAIT)
    iq = await alice['xep_0060'].publish(svc, 'news', payload=payload('two'), timeout=common.WAIT)
    second = iq['pubsub']['publish']['item']['id']
    check(second and second != 'first', 'the service gave the item id %r' % second)
    for c in (bob, carol):
        for item_id, text in (('first', 'one'), (second, 'two')):
            m = await c.expect('pubsub_publish', is_item('news', item_id), 'notification of %s' % item_id)
            check_eq(str(m['from']), svc, 'from of the notification')
            got = event_items(m, 'news', 'item')[0].find('{%s}entry' % NS_TEST)
            check(got is not None and got.text == text, '%s: payload %s' % (c.label, ET.tostring(m.xml)))
        await c.quiet('pubsub_publish', None, 'another notification')
    log.info('two items published, each notified once to bob and carol')

    iq = await bob['xep_0060'].get_items(svc, 'news', timeout=common.WAIT)
    check_eq([i['id'] for i in iq['pubsub']['items']], ['first', second], 'items')
    iq = await bob['xep_0060'].get_items(svc, 'news', max_items=1, timeout=common.WAIT)
    check_eq([i['id'] for i in iq['pubsub']['items']], [second], 'newest item')
    iq = await bob['xep_0060'].get_item(svc, 'news', 'first', timeout=common.WAIT)
    check_eq([i['id'] for i in iq['pubsub']['items']], ['first'], 'item by id')

    await alice['xep_0060'].retract(svc, 'news', 'first', notify=True, timeout=common.WAIT)
    m = await bob.expect('pubsub_retract', lambda m: any(r.get('id') == 'first' for r in event_items(m, 'news', 'retract')),
                         'the retraction')
    await bob['xep_0060'].unsubscribe(svc, 'news', bare=False, timeout=common.WAIT)
    await alice['xep_0060'].publish(svc, 'news', id='third', payload=payload('three'), timeout=common.WAIT)
    await carol.expect('pubsub_publish', is_item('news', 'third'), 'third to carol')
    await bob.quiet('pubsub_publish', None, 'a notification after unsubscribing')
    try:
        await bob['xep_0060'].publish(svc, 'news', id='x', payload=payload('x'), timeout=common.WAIT)
        fail('bob published to alice\'s node')
    except IqError as e:
        check_eq(errors_of(e), ('forbidden', None), "bob's publish")
    log.info('retract, unsubscribe and publish refusal: ok')

    await alice['xep_0060'].create_node(svc, 'club', config=config_form(alice, access_model='whitelist', deliver_payloads='0'),
                                        timeout=common.WAIT)
    try:
        await bob['xep_0060'].subscribe(svc, 'club', timeout=common.WAIT)
        fail('bob subscribed to a whitelist node')
    except IqError as e:
        check_eq(errors_of(e), ('not-allowed', 'closed-node'), 'subscribe to a whitelist node')
    await alice['xep_0060'].modify_affiliations(svc, 'club', [(bob.boundjid.bare, 'member')], timeout=common.WAIT)
    iq = await alice['xep_0060'].get_node_affiliations(svc, 'club', timeout=common.WAIT)
    affs = sorted((str(a['jid']), a['affiliation']) for a in iq['pubsub_owner']['affiliations'])
    check_eq(affs, [(alice.boundjid.bare, 'owner'), (bob.boundjid.bare, 'member')], 'affiliations')
    await bob['xep_0060'].subscribe(svc, 'club', timeout=common.WAIT)
    await alice['xep_0060'].publish(svc, 'club', id='c1', payload=payload('secret'), timeout=common.WAIT)
    m = await bob.expect('pubsub_publish', is_item('club', 'c1'), 'the member\'s notification')
    check_eq(len(list(event_items(m, 'club', 'item')[0])), 0, 'payload children with deliver_payloads off')
    log.info('whitelist: closed-node, then member; notification without payload')

    await alice['xep_0060'].purge(svc, 'club', timeout=common.WAIT)
    await bob.expect('pubsub_purge', lambda m: m['pubsub_event']['purge']['node'] == 'club', 'purge event')
    iq = await bob['xep_0060'].get_items(svc, 'club', timeout=common.WAIT)
    check_eq(list(iq['pubsub']['items']), [], 'items after purge')
    await alice['xep_0060'].delete_node(svc, 'club', timeout=common.WAIT)
    await bob.expect('pubsub_delete', lambda m: m['pubsub_event']['delete']['node'] == 'club', 'delete event')
    try:
        await bob['xep_0060'].get_items(svc, 'club', timeout=common.WAIT)
        fail('a deleted node answered')
    except IqError as e:
        check_eq(errors_of(e), ('item-not-found', None), 'deleted node')
    log.info('purge and delete notified')

if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
