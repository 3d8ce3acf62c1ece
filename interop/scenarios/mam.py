#!/usr/bin/python3
"""MAM: XEP-0313 archive queries with XEP-0059 paging.

Accounts: alice, bob, carol.

alice and bob, both online, exchange five chat messages, each awaited by
its receiver so the order is fixed; alice also sends one to carol. alice
queries her archive (urn:xmpp:mam:2) with with=bob: she gets exactly the
five, in order, each as a <result/> with the query's queryid and a
distinct id (equal to the XEP-0359 <stanza-id by='alice@...'/> the
messages she received carried), the forwarded message with the right from, to and body and a
<delay/> stamp. The final <fin/> is complete and its RSM first/last are
the first and last result ids. Paging with max=2 (after=<last id>) walks
the same ids in pages of 2, 2 and 1, the last one complete. bob's archive
with with=alice holds the same five bodies.
"""

from xml.etree import ElementTree as ET

import common
from common import check, check_eq, log

EXCHANGE = (
    ('alice', 'mam one from alice'),
    ('bob', 'mam two from bob'),
    ('alice', 'mam three from alice'),
    ('bob', 'mam four from bob'),
    ('alice', 'mam five from alice'),
)
PLUGINS = ('xep_0313', 'xep_0059', 'xep_0297', 'xep_0203')


async def query(c, with_jid, rsm=None):
    """Runs one MAM query and returns (results, fin element, iq)."""
    iq = await c['xep_0313'].retrieve(with_jid=with_jid, rsm=rsm, timeout=common.WAIT)
    check_eq(iq['type'], 'result', 'MAM query reply type')
    results = list(iq['mam']['results'])
    fin = iq.xml.find('{%s}fin' % common.NS_MAM)
    check(fin is not None, 'MAM reply without <fin/>: %s' % iq)
    return results, fin, iq


def rsm_of(fin):
    s = fin.find('{%s}set' % common.NS_RSM)
    check(s is not None, '<fin/> without an RSM <set/>: %s' % ET.tostring(fin).decode())
    def text(name):
        e = s.find('{%s}%s' % (common.NS_RSM, name))
        return e.text if e is not None else None
    return text('first'), text('last'), text('count')


def is_complete(fin):
    return fin.get('complete') in ('true', '1')


def check_results(owner, results, queryid, peer):
    """Checks each <result/> of a query (slixmpp uses the query IQ's id as
    its queryid) and returns (ids, bodies) in order."""
    ids, bodies = [], []
    for r in results:
        res = r['mam_result']
        check_eq(res['queryid'], queryid, '%s: <result/> queryid' % owner.label)
        check(res['id'], '%s: <result/> without an id: %s' % (owner.label, r))
        check(r['from'].full in ('', owner.boundjid.bare),
              '%s: <result/> message from %r (must be the archive owner)' % (owner.label, r['from'].full))
        fwd = res['forwarded']
        msg = fwd['stanza']
        delay = fwd.xml.find('{%s}delay' % common.NS_DELAY)
        check(delay is not None and delay.get('stamp'),
              '%s: <forwarded/> without a <delay stamp=.../>: %s' % (owner.label, r))
        parties = {msg['from'].bare, msg['to'].bare}
        check_eq(parties, {owner.boundjid.bare, peer}, '%s: archived message between' % owner.label)
        ids.append(res['id'])
        bodies.append(msg['body'])
    check_eq(len(set(ids)), len(ids), '%s: distinct result ids %s' % (owner.label, ids))
    return ids, bodies


async def scenario(sc):
    A, B, C = sc.bare('alice'), sc.bare('bob'), sc.bare('carol')
    alice = await sc.login('alice', 'pc', plugins=PLUGINS)
    bob = await sc.login('bob', 'pc', plugins=PLUGINS)
    peers = {'alice': (alice, bob), 'bob': (bob, alice)}

    log.info('exchanging %d messages', len(EXCHANGE))
    live_ids = {}  # (receiver, body) -> XEP-0359 stanza-id stamped by its archive
    for who, body in EXCHANGE:
        sender, receiver = peers[who]
        sender.send_message(mto=receiver.boundjid.bare, mbody=body, mtype='chat')
        m = await receiver.expect_message(body)
        # XEP-0313 section 5: an archiving server stamps what it archives.
        sid = m.xml.find('{urn:xmpp:sid:0}stanza-id')
        check(sid is not None and sid.get('by') == receiver.boundjid.bare and sid.get('id'),
              '%s: message without <stanza-id by=%r/>: %s' % (receiver.label, receiver.boundjid.bare, m))
        live_ids[(receiver.boundjid.bare, body)] = sid.get('id')
    alice.send_message(mto=C, mbody='mam to carol', mtype='chat')
    await alice.barrier()
    want = [body for _, body in EXCHANGE]

    log.info('alice: full query with=bob')
    results, fin, iq = await query(alice, B)
    ids, bodies = check_results(alice, results, iq['id'], B)
    check_eq(bodies, want, 'alice: archived bodies with bob, in order')
    for r, (who, _) in zip(results, EXCHANGE):
        check_eq(r['mam_result']['forwarded']['stanza']['from'].bare, sc.bare(who), 'archived message sender')
    for rid, body in zip(ids, bodies):
        if (A, body) in live_ids:
            check_eq(rid, live_ids[(A, body)], 'alice: archive id of %r vs its stanza-id' % body)
    check(is_complete(fin), 'alice: <fin/> of a query returning everything is not complete: %s'
          % ET.tostring(fin).decode())
    first, last, count = rsm_of(fin)
    check_eq((first, last), (ids[0], ids[-1]), 'alice: <fin/> RSM first/last')
    if count is not None:
        check_eq(count, str(len(want)), 'alice: <fin/> RSM count')

    log.info('alice: paging with max=2')
    paged, sizes, after, pages = [], [], None, 0
    while True:
        pages += 1
        check(pages <= 5, 'alice: paging does not end: pages %s' % sizes)
        rsm = {'max': 2}
        if after is not None:
            rsm['after'] = after
        results, fin, iq = await query(alice, B, rsm)
        page_ids, _ = check_results(alice, results, iq['id'], B)
        sizes.append(len(page_ids))
        paged += page_ids
        if page_ids:
            first, last, _ = rsm_of(fin)
            check_eq((first, last), (page_ids[0], page_ids[-1]), 'alice: page %d RSM first/last' % pages)
            after = last
        if is_complete(fin) or not page_ids:
            break
    check_eq(paged, ids, 'alice: ids walked by paging')
    check_eq(sizes, [2, 2, 1], 'alice: page sizes')

    log.info('bob: full query with=alice')
    results, fin, iq = await query(bob, A)
    _, bodies = check_results(bob, results, iq['id'], A)
    check_eq(bodies, want, 'bob: archived bodies with alice, in order')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
