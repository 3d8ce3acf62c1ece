#!/usr/bin/python3
"""SM resume: XEP-0198 stream resumption after a cut TCP connection.

Accounts: alice, bob.

bob logs in with slixmpp's xep_0198 plugin, which enables stream
management with resume; <enabled/> must carry resume='true' and an id.
alice sends him three messages, which arrive. Then bob's TCP connection is
reset (no </stream:stream>, no TLS close_notify). While bob is away alice
sends three messages to his full JID and one to his bare JID. bob
reconnects; slixmpp resumes with the old id and its count of handled
stanzas. The <resumed/> must come back with previd equal to the id and h
equal to the number of stanzas bob sent, the session keeps its full JID,
no new session starts, and the four messages sent during the cut arrive
once each, in order, while none of the first three comes again. A message
sent after the resumption arrives normally.
"""

import common
from common import check, check_eq, log

BEFORE = ('before cut 1', 'before cut 2', 'before cut 3')
DURING = ('during cut 1', 'during cut 2', 'during cut 3', 'during cut 4 (bare JID)')
AFTER = 'after resume'
ALL = BEFORE + DURING + (AFTER,)


async def scenario(sc):
    A, B = sc.bare('alice'), sc.bare('bob')
    alice = await sc.login('alice', 'home')
    bob = sc.client('bob', 'phone', plugins=('xep_0198',))
    sm = bob['xep_0198']
    resumed_seen = common.watch_resumed(bob)
    await bob.login()
    bob.send_presence()
    enabled = await bob.expect('sm_enabled')
    check(enabled['resume'], '<enabled/> without resume=true: %s' % enabled)
    check(enabled['id'], '<enabled/> without an id: %s' % enabled)
    sm_id = enabled['id']
    log.info('bob: SM enabled, id %s, max %s', sm_id, enabled['max'])
    full = bob.boundjid.full
    check_eq(full, B + '/phone', 'bound JID')

    for body in BEFORE:
        alice.send_message(mto=full, mbody=body, mtype='chat')
    for body in BEFORE:
        m = await bob.expect('message', lambda m: m['body'] in BEFORE, 'a message before the cut')
        check_eq(m['body'], body, 'messages before the cut, in order')
    await bob.barrier()
    handled = sm.handled
    log.info('bob: handled %d stanzas, sent %d', handled, sm.seq)

    await common.cut_while_sent(bob, alice, DURING, full, B)
    check_eq(sm.sm_id, sm_id, 'slixmpp kept the SM id')

    log.info('bob reconnects and resumes')
    sent_before = sm.seq
    bob.connect()
    await common.expect_resumed(bob, resumed_seen, sm_id, sent_before, full)
    check_eq(len(sm.unacked_queue), 0, 'stanzas slixmpp still holds as unacknowledged')
    await common.expect_in_order(bob, DURING, A + '/home', 'messages sent during the cut')

    alice.send_message(mto=full, mbody=AFTER, mtype='chat')
    await bob.expect_message(AFTER)
    await bob.quiet('message', lambda m: m['body'] in ALL, 'duplicate after resumption')
    log.info('bob: handled %d stanzas in all', sm.handled)


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
