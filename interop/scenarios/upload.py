#!/usr/bin/python3
"""HTTP file upload: XEP-0363 with slixmpp's xep_0363 plugin and aiohttp.

Accounts: alice, bob.

The server runs with upload.max_file_bytes = 100000 and quota_bytes =
150000 (the scenario table's options in interop_test.go), on its plain
HTTP listener.

- upload.localhost is found through the server's disco#items and the
  disco#info of each item, with max-file-size = 100000 in its form. (The
  plugin's own find_upload_service passes coroutines to asyncio.wait,
  which Python 3.11 refuses, so the scenario discovers the service itself
  and hands the plugin what it found, as the plugin would have.)
- alice uploads a 60000-byte PNG with upload_file (slot, then an HTTP PUT
  by aiohttp); bob downloads the GET URL and gets the same bytes with
  Content-Type image/png and an inline Content-Disposition naming the
  file.
- A file beyond max-file-size is refused by the plugin before any request
  (FileTooBig); a slot asked for by hand for it gets not-acceptable with
  <file-too-large/> carrying <max-file-size>.
- alice's second 60000-byte upload fits her quota, a third does not: the
  slot request gets resource-constraint (wait).
- A PUT that does not match its slot's size is refused with 413 and
  stores nothing.
"""

import io
import os
from xml.etree import ElementTree as ET

import aiohttp

import common
from common import check, check_eq, log
from slixmpp.exceptions import IqError

NS = 'urn:xmpp:http:upload:0'


async def request_slot(c, name, size):
    iq = c.make_iq_get(ito='upload.' + c.boundjid.domain)
    ET.SubElement(iq.xml, '{%s}request' % NS, filename=name, size=str(size), **{'content-type': 'application/octet-stream'})
    return await iq.send(timeout=common.WAIT)


async def scenario(sc):
    alice = await sc.login('alice', 'phone', plugins=('xep_0030', 'xep_0363'))
    bob = await sc.login('bob', 'laptop', plugins=('xep_0030',))

    log.info('discovery')
    items = await alice['xep_0030'].get_items(jid=sc.domain, timeout=common.WAIT)
    service, max_size = None, None
    for item_jid, _, _ in items['disco_items']['items']:
        info = await alice['xep_0030'].get_info(jid=item_jid, timeout=common.WAIT)
        if NS not in info['disco_info']['features']:
            continue
        check(('store', 'file', 'HTTP File Upload', None) in info['disco_info']['identities']
              or any(i[0] == 'store' and i[1] == 'file' for i in info['disco_info']['identities']),
              'identity store/file: %s' % info['disco_info']['identities'])
        for form in info['disco_info'].iterables:
            values = form['values']
            if values.get('FORM_TYPE') == [NS]:
                max_size = int(values['max-file-size'])
        service = item_jid
    check_eq(str(service), 'upload.' + sc.domain, 'upload service found')
    check_eq(max_size, 100000, 'max-file-size read from the form')
    alice['xep_0363'].upload_service = service
    alice['xep_0363'].max_file_size = max_size

    data = os.urandom(60000)
    log.info('alice uploads with upload_file')
    url = await alice['xep_0363'].upload_file('holiday.png', size=len(data), content_type='image/png',
                                              input_file=_Bytes(data), timeout=common.WAIT)
    check(url.endswith('/holiday.png'), 'GET URL %s does not name the file' % url)

    log.info('bob downloads %s', url)
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            body = await resp.read()
            check_eq(resp.status, 200, 'GET status')
            check(body == data, 'downloaded bytes differ from the uploaded ones')
            check_eq(resp.headers.get('Content-Type'), 'image/png', 'Content-Type')
            check(resp.headers.get('Content-Disposition', '').startswith('inline; filename="holiday.png"'),
                  'Content-Disposition %r' % resp.headers.get('Content-Disposition'))

    log.info('too large')
    try:
        await alice['xep_0363'].upload_file('big.bin', size=100001, input_file=_Bytes(b'x' * 100001),
                                            timeout=common.WAIT)
        common.fail('a file beyond max-file-size was uploaded')
    except Exception as e:
        check_eq(type(e).__name__, 'FileTooBig', 'error for a file beyond max-file-size')
    try:
        await request_slot(alice, 'big.bin', 100001)
        common.fail('a slot beyond max-file-size was granted')
    except IqError as e:
        check_eq(e.iq['error']['condition'], 'not-acceptable', 'condition for a file beyond max-file-size')
        mfs = e.iq.xml.find('{jabber:client}error/{%s}file-too-large/{%s}max-file-size' % (NS, NS))
        check(mfs is not None and mfs.text == '100000', 'no <file-too-large><max-file-size>100000: %s' % e.iq)

    log.info('quota')
    await alice['xep_0363'].upload_file('second.bin', size=60000, input_file=_Bytes(os.urandom(60000)),
                                        timeout=common.WAIT)
    try:
        await request_slot(alice, 'third.bin', 60000)
        common.fail('a slot beyond the quota was granted')
    except IqError as e:
        check_eq((e.iq['error']['type'], e.iq['error']['condition']), ('wait', 'resource-constraint'),
                 'error beyond the quota')

    log.info('a PUT of the wrong size')
    slot = await request_slot(bob, 'small.bin', 10)
    put = slot.xml.find('{%s}slot/{%s}put' % (NS, NS)).get('url')
    get = slot.xml.find('{%s}slot/{%s}get' % (NS, NS)).get('url')
    async with aiohttp.ClientSession() as http:
        async with http.put(put, data=b'x' * 11, headers={'Content-Type': 'application/octet-stream'}) as resp:
            check_eq(resp.status, 413, 'PUT larger than the slot')
        async with http.get(get) as resp:
            check_eq(resp.status, 404, 'GET after a refused PUT')


def _Bytes(data):
    """A file object aiohttp streams from (upload_file seeks it)."""
    return io.BytesIO(data)


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
