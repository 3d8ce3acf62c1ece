#!/usr/bin/python3
"""Bookmarks: XEP-0402 native bookmarks and both XEP-0048 compatibility modes.

Accounts: alice, bob.

alice is online twice: "modern" speaks XEP-0402 through slixmpp's xep_0060
(slixmpp 1.8.3 has no xep_0402 plugin, so the <conference/> payloads are
built by hand) and announces urn:xmpp:bookmarks:1+notify with xep_0163, so
the server must learn it through entity capabilities (XEP-0115) by asking
the client; "legacy" uses slixmpp's xep_0048 plugin, once over Private XML
(xep_0049, the #compat mode) and once over PEP (xep_0223, #compat-pep).

- modern publishes room1 (autojoin, nick, an <extensions/> child) with the
  publish-options XEP-0402 asks for; legacy reads it through XEP-0049 and
  through the XEP-0048 PEP node.
- legacy stores, through XEP-0049, room1 renamed (without the extension,
  which it does not know) and room2; modern is notified of exactly those
  two items, reads both through XEP-0402, and room1 still has its
  extension.
- legacy stores, through XEP-0048 over PEP, only room2; modern is notified
  of room1's retraction, and all three paths show room2 alone.
- bob cannot read alice's bookmarks (not-allowed: whitelist).
"""

from xml.etree import ElementTree as ET

import common
from common import check, check_eq, log
from slixmpp.exceptions import IqError

NS = 'urn:xmpp:bookmarks:1'
NS_LEGACY = 'storage:bookmarks'
NS_EVENT = 'http://jabber.org/protocol/pubsub#event'
NS_EXT = 'urn:example:interop'
PLUGINS_MODERN = ('xep_0004', 'xep_0030', 'xep_0060', 'xep_0115', 'xep_0163')
PLUGINS_LEGACY = ('xep_0048',)


def conference(name, nick, autojoin, ext=None):
    c = ET.Element('{%s}conference' % NS, name=name, autojoin='true' if autojoin else 'false')
    ET.SubElement(c, '{%s}nick' % NS).text = nick
    if ext is not None:
        e = ET.SubElement(c, '{%s}extensions' % NS)
        ET.SubElement(e, '{%s}state' % NS_EXT).text = ext
    return c


def publish_options(c):
    """The node configuration XEP-0402 section 4 asks for, as preconditions."""
    form = c['xep_0004'].make_form(ftype='submit')
    form.add_field(var='FORM_TYPE', ftype='hidden',
                   value='http://jabber.org/protocol/pubsub#publish-options')
    form.add_field(var='pubsub#persist_items', value='true')
    form.add_field(var='pubsub#max_items', value='max')
    form.add_field(var='pubsub#send_last_published_item', value='never')
    form.add_field(var='pubsub#access_model', value='whitelist')
    return form


async def native(c):
    """alice's native bookmarks: {room: (name, nick, autojoin, extension)}."""
    iq = await c['xep_0060'].get_items(jid=None, node=NS, timeout=common.WAIT)
    out = {}
    for item in iq['pubsub']['items']:
        conf = item.xml.find('{%s}conference' % NS)
        check(conf is not None, 'native item %s without <conference/>: %s' % (item['id'], item))
        nick = conf.find('{%s}nick' % NS)
        ext = conf.find('{%s}extensions/{%s}state' % (NS, NS_EXT))
        out[item['id']] = (conf.get('name'), nick.text if nick is not None else None,
                           conf.get('autojoin') in ('true', '1'),
                           ext.text if ext is not None else None)
    return out


def legacy_view(bookmarks):
    """{room: (name, nick, autojoin)} of a XEP-0048 <storage/>."""
    return {str(c['jid']): (c['name'], c['nick'], c['autojoin']) for c in bookmarks['conferences']}


async def via_private(c):
    iq = await c['xep_0048'].get_bookmarks(method='xep_0049', timeout=common.WAIT)
    return legacy_view(iq['private']['bookmarks'])


async def via_legacy_pep(c):
    iq = await c['xep_0048'].get_bookmarks(method='xep_0223', timeout=common.WAIT)
    items = list(iq['pubsub']['items'])
    check_eq(len(items), 1, 'items of the storage:bookmarks node')
    return legacy_view(items[0]['bookmarks'])


def record_events(c):
    """Records slixmpp's pubsub events (notifications come as those, not as
    'message', which slixmpp raises only for messages with a body)."""
    for ev in ('pubsub_publish', 'pubsub_retract'):
        c.add_event_handler(ev, c._recorder(ev))


def is_event(node, item_id, retract=False):
    tag = 'retract' if retract else 'item'

    def match(m):
        items = m.xml.find('{%s}event/{%s}items' % (NS_EVENT, NS_EVENT))
        if items is None or items.get('node') != node:
            return False
        return any(e.get('id') == item_id for e in items.findall('{%s}%s' % (NS_EVENT, tag)))
    return match


def is_native_event(m):
    items = m.xml.find('{%s}event/{%s}items' % (NS_EVENT, NS_EVENT))
    return items is not None and items.get('node') == NS


async def scenario(sc):
    room1, room2 = 'room1@conference.' + sc.domain, 'room2@conference.' + sc.domain

    modern = sc.client('alice', 'modern', plugins=PLUGINS_MODERN)
    record_events(modern)
    modern['xep_0163'].add_interest(NS)
    await modern.login()
    await modern['xep_0115'].update_caps(broadcast=False)
    modern.send_presence()
    legacy = await sc.login('alice', 'legacy', plugins=PLUGINS_LEGACY)
    # Round trips, so that the server's capabilities queries (disco#info
    # to each client) have been answered before anything is published.
    for c in (modern, legacy, modern):
        await c.barrier()

    log.info('modern: XEP-0402 publish of room1')
    await modern['xep_0060'].publish(None, NS, id=room1,
                                     payload=conference('Room One', 'alice', True, ext='folded'),
                                     options=publish_options(modern), timeout=common.WAIT)
    await modern.expect('pubsub_publish', is_event(NS, room1), 'own notification of room1')
    check_eq(await via_private(legacy), {room1: ('Room One', 'alice', True)}, 'XEP-0049 view')
    check_eq(await via_legacy_pep(legacy), {room1: ('Room One', 'alice', True)}, 'XEP-0048 PEP view')

    log.info('legacy: XEP-0049 set of room1 (renamed) and room2')
    bm = legacy['xep_0048'].stanza.Bookmarks()
    bm.add_conference(room1, 'alice', name='Room 1', autojoin=True)
    bm.add_conference(room2, 'al', name='Room Two', autojoin=False)
    bm.add_url('https://example.org/', name='Site')
    await legacy['xep_0048'].set_bookmarks(bm, method='xep_0049', timeout=common.WAIT)
    await modern.expect('pubsub_publish', is_event(NS, room1), 'notification of room1')
    await modern.expect('pubsub_publish', is_event(NS, room2), 'notification of room2')
    await modern.quiet('pubsub_publish', is_native_event, 'other native bookmark notifications')
    await modern.quiet('pubsub_retract', is_native_event, 'native bookmark retractions')
    check_eq(await native(modern), {
        room1: ('Room 1', 'alice', True, 'folded'),
        room2: ('Room Two', 'al', False, None),
    }, 'XEP-0402 view (room1 keeps its extension)')
    check_eq(await via_legacy_pep(legacy), {
        room1: ('Room 1', 'alice', True),
        room2: ('Room Two', 'al', False),
    }, 'XEP-0048 PEP view')
    iq = await legacy['xep_0048'].get_bookmarks(method='xep_0049', timeout=common.WAIT)
    urls = [u['url'] for u in iq['private']['bookmarks']['urls']]
    check_eq(urls, ['https://example.org/'], 'URL bookmarks kept')

    log.info('legacy: XEP-0048 over PEP with room2 only')
    bm = legacy['xep_0048'].stanza.Bookmarks()
    bm.add_conference(room2, 'al', name='Room Two', autojoin=False)
    await legacy['xep_0048'].set_bookmarks(bm, method='xep_0223', id='current', timeout=common.WAIT)
    await modern.expect('pubsub_retract', is_event(NS, room1, retract=True), 'retraction of room1')
    await modern.quiet('pubsub_publish', is_native_event, 'native bookmark notifications')
    await modern.quiet('pubsub_retract', is_native_event, 'other native bookmark retractions')
    check_eq(await native(modern), {room2: ('Room Two', 'al', False, None)}, 'XEP-0402 view')
    check_eq(await via_private(legacy), {room2: ('Room Two', 'al', False)}, 'XEP-0049 view')
    check_eq(await via_legacy_pep(legacy), {room2: ('Room Two', 'al', False)}, 'XEP-0048 PEP view')

    log.info('bob: alice\'s bookmarks are private')
    bob = await sc.login('bob', 'pc', plugins=('xep_0060',))
    try:
        await bob['xep_0060'].get_items(jid=sc.bare('alice'), node=NS, timeout=common.WAIT)
        common.fail('bob read alice\'s bookmarks')
    except IqError as e:
        check_eq(e.iq['error']['condition'], 'not-allowed', 'bob reading alice\'s bookmarks')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
