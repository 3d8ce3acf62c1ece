#!/usr/bin/python3
"""SM across cluster nodes: a session resumed through another node.

Accounts: alice, bob. Runs against a cluster of two minimix nodes (the
scenario's --port is node 1, --port2 node 2) sharing one database.

bob logs in on node 1 with slixmpp's xep_0198 plugin; <enabled/> names
node 1 as the place to resume (XEP-0198 'location'). alice, on node 2,
sends him two messages, which cross the nodes and arrive. bob's TCP
connection is reset; alice sends two more to his full JID and one to his
bare JID. bob reconnects, but to node 2 (as a load balancer might send
him), and asks to resume there: node 2 redirects him with a
see-other-host stream error naming node 1, slixmpp follows it, and the
resumption succeeds on node 1 with the old id and its count of handled
stanzas. The three messages sent during the cut arrive once each, in
order; none of the first two comes again; a message sent afterwards
arrives normally, and bob's answer reaches alice on node 2.
"""

import asyncio

import common
from slixmpp.exceptions import IqError, IqTimeout
from common import check, check_eq, log

BEFORE = ('before cut 1', 'before cut 2')
DURING = ('during cut 1', 'during cut 2', 'during cut 3 (bare JID)')
AFTER = 'after resume'
ALL = BEFORE + DURING + (AFTER,)


async def reachable(client, full):
    """Pings full (XEP-0199) until it answers: its node's session is known
    where client is."""
    deadline = asyncio.get_running_loop().time() + common.WAIT
    while True:
        try:
            await client['xep_0199'].send_ping(full, timeout=5)
            return
        except (IqError, IqTimeout) as e:
            if asyncio.get_running_loop().time() > deadline:
                common.fail('%s never answered a ping from %s: %s' % (full, client.label, e))
            await asyncio.sleep(0.1)


async def scenario(sc):
    args = sc.args
    check(args.port2, 'the cluster scenario needs --port2 (a second node)')
    A, B = sc.bare('alice'), sc.bare('bob')
    alice = await sc.login('alice', 'home', port=args.port2)
    bob = sc.client('bob', 'phone', plugins=('xep_0198',))
    sm = bob['xep_0198']
    resumed_seen = common.watch_resumed(bob)
    await bob.login()
    bob.send_presence()
    enabled = await bob.expect('sm_enabled')
    check(enabled['resume'], '<enabled/> without resume=true: %s' % enabled)
    sm_id = enabled['id']
    node1 = '%s:%d' % (args.host, args.port)
    check_eq(enabled['location'], node1, "<enabled/> location (the node to resume at)")
    full = bob.boundjid.full

    # Node 2 learns of bob's session from the cluster's registry a moment
    # after he bound it; until then an iq to him there is refused.
    await reachable(alice, full)
    for body in BEFORE:
        alice.send_message(mto=full, mbody=body, mtype='chat')
    await common.expect_in_order(bob, BEFORE, A + '/home', 'messages from the other node')
    await bob.barrier()
    await common.cut_while_sent(bob, alice, DURING, full, B)

    log.info('bob reconnects to node 2 and asks to resume there')
    bob._target = (args.host, args.port2)
    sent_before = sm.seq
    bob.connect()
    # Node 2's see-other-host ends that stream; slixmpp reconnects at once.
    await bob.expect('stream_error', lambda e: e['condition'] == 'see-other-host', 'the redirect from node 2')
    await bob.expect('disconnected', what='the end of the stream node 2 redirected')
    await common.expect_resumed(bob, resumed_seen, sm_id, sent_before, full)
    check_eq(bob.stream_errors, ['see-other-host'], 'stream errors on the way (the redirect)')
    check_eq(bob._target, (args.host, args.port), 'where bob resumed (node 1, as redirected)')
    await common.expect_in_order(bob, DURING, A + '/home', 'messages sent during the cut')

    alice.send_message(mto=full, mbody=AFTER, mtype='chat')
    await bob.expect_message(AFTER)
    bob.send_message(mto=A + '/home', mbody='answer from node 1', mtype='chat')
    await alice.expect_message('answer from node 1')
    await bob.quiet('message', lambda m: m['body'] in ALL, 'duplicate after resumption')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
