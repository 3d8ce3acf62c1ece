#!/usr/bin/python3
"""Avatars: XEP-0398 and XEP-0153 through slixmpp's xep_0084, xep_0054 and xep_0153 plugins.

Accounts: alice, bob, carol.

- The server's disco#info on alice's account lists
  urn:xmpp:pep-vcard-conversion:0.
- alice (xep_0084, no vCard plugin of her own) publishes a PEP avatar,
  data then metadata: her vCard, as bob reads it with xep_0054, has the
  image as PHOTO with its type; her next presence to bob carries
  <x xmlns='vcard-temp:x:update'><photo>SHA-1</photo></x>, added by the
  server.
- carol (xep_0153) sets a vCard avatar: her PEP data node holds the image
  under its SHA-1 and her metadata node an <info/> naming it, with the
  vCard's type; her presence to bob carries the same hash.
- alice disables her PEP avatar (empty metadata): her vCard has no PHOTO
  any more and her presence an empty <photo/>.
"""

import hashlib

from slixmpp import JID

import common
from common import check, check_eq, log

NS_UPDATE = 'vcard-temp:x:update'
NS_DATA = 'urn:xmpp:avatar:data'
NS_METADATA = 'urn:xmpp:avatar:metadata'
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
IMAGE_A = b'\x89PNG\r\n\x1a\n' + b'alice' * 20
IMAGE_C = b'\xff\xd8\xff\xe0' + b'carol' * 20


def photo(p):
    """The vcard-temp:x:update photo of a presence: None without one."""
    el = p.xml.find('{%s}x/{%s}photo' % (NS_UPDATE, NS_UPDATE))
    if el is None:
        return None
    return el.text or ''


async def presence_to(sender, bob, what):
    """sender sends bob's full JID a directed presence; returns what bob gets."""
    sender.send_presence(pto=bob.boundjid.full)
    return await bob.expect('stanza', lambda s: common.local_name(s) == 'presence'
                            and s['from'].full == sender.boundjid.full and s['type'] == 'available', what)


async def scenario(sc):
    alice = await sc.login('alice', 'home', plugins=('xep_0030', 'xep_0060', 'xep_0163', 'xep_0084'), record_stanzas=True)
    bob = await sc.login('bob', 'work', plugins=('xep_0030', 'xep_0054'), record_stanzas=True)
    carol = await sc.login('carol', 'pad', plugins=('xep_0030', 'xep_0060', 'xep_0054', 'xep_0153'), record_stanzas=True)

    info = await alice['xep_0030'].get_info(jid=sc.bare('alice'), timeout=common.WAIT)
    check('urn:xmpp:pep-vcard-conversion:0' in info['disco_info']['features'],
          'no urn:xmpp:pep-vcard-conversion:0: %s' % info['disco_info']['features'])

    log.info('alice publishes a PEP avatar')
    aid = hashlib.sha1(IMAGE_A).hexdigest()
    await alice['xep_0084'].publish_avatar(IMAGE_A, timeout=common.WAIT)
    await alice['xep_0084'].publish_avatar_metadata(
        [{'id': aid, 'type': 'image/png', 'bytes': len(IMAGE_A)}], timeout=common.WAIT)
    vc = await bob['xep_0054'].get_vcard(JID(sc.bare('alice')), cached=False, timeout=common.WAIT)
    check_eq(vc['vcard_temp']['PHOTO']['BINVAL'], IMAGE_A, "alice's vCard PHOTO")
    check_eq(vc['vcard_temp']['PHOTO']['TYPE'], 'image/png', "alice's vCard PHOTO type")
    p = await presence_to(alice, bob, "alice's presence")
    check_eq(photo(p), aid, "hash in alice's presence")

    log.info('carol sets a vCard avatar')
    cid = hashlib.sha1(IMAGE_C).hexdigest()
    await carol['xep_0153'].set_avatar(avatar=IMAGE_C, mtype='image/jpeg', timeout=common.WAIT)
    data = await carol['xep_0060'].get_items(JID(sc.bare('carol')), NS_DATA, timeout=common.WAIT)
    items = data['pubsub']['items']
    check_eq([i['id'] for i in items], [cid], "carol's data items")
    meta = await carol['xep_0060'].get_items(JID(sc.bare('carol')), NS_METADATA, timeout=common.WAIT)
    items = list(meta['pubsub']['items'])
    check_eq([i['id'] for i in items], [cid], "carol's metadata items")
    inf = items[0].xml.find('{%s}metadata/{%s}info' % (NS_METADATA, NS_METADATA))
    check(inf is not None and inf.get('id') == cid and inf.get('type') == 'image/jpeg'
          and inf.get('bytes') == str(len(IMAGE_C)), 'metadata info: %s' % items[0])
    p = await presence_to(carol, bob, "carol's presence")
    check_eq(photo(p), cid, "hash in carol's presence")

    log.info('alice disables her avatar')
    await alice['xep_0084'].stop(timeout=common.WAIT)
    vc = await bob['xep_0054'].get_vcard(JID(sc.bare('alice')), cached=False, timeout=common.WAIT)
    check(vc['vcard_temp'].xml.find('{vcard-temp}PHOTO') is None, "alice's vCard kept its PHOTO: %s" % vc)
    p = await presence_to(alice, bob, "alice's presence after disabling")
    check_eq(photo(p), '', "photo in alice's presence after disabling")


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
