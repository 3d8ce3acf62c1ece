#!/usr/bin/python3
"""Chat: alice and bob exchange chat messages.

Accounts: alice, bob.

Both are online with initial presence. alice sends a chat message with a
body, a thread and an id to bob's bare JID; bob receives it once, from
alice's full JID, to his full JID, with type, id, thread and body intact
(including markup characters and non-ASCII text). bob replies to the full
JID he got it from and alice receives the reply the same way. A message to
an unknown account in the domain comes back as an error. A ping to the
server (XEP-0199) is answered with a result.
"""

import common
from common import check, check_eq, log

BODY = 'hi bob <&> "quoted" \'single\' — héllo ✓'
REPLY = 'hi alice, got it'


async def scenario(sc):
    A, B = sc.bare('alice'), sc.bare('bob')
    alice = await sc.login('alice', 'laptop')
    bob = await sc.login('bob', 'phone')

    log.info('alice pings the server (XEP-0199)')
    pong = await alice.barrier()
    check_eq(pong['type'], 'result', 'ping reply type')
    check_eq(pong['from'].full, sc.domain, 'ping reply from')

    log.info('alice -> bob (bare JID)')
    m = alice.make_message(mto=B, mbody=BODY, mtype='chat')
    m['id'] = 'chat-1'
    m['thread'] = 'thread-1'
    m.send()
    got = await bob.expect_message(BODY)
    check_eq(got['from'].full, A + '/laptop', 'message from')
    # RFC 6121 8.5.2.1.1 delivers to a resource without saying whether
    # 'to' stays bare (Prosody, ejabberd) or names it; accept both.
    check(got['to'].full in (B, B + '/phone'), 'message to: got %r' % got['to'].full)
    check_eq(got['type'], 'chat', 'message type')
    check_eq(got['id'], 'chat-1', 'message id')
    check_eq(got['thread'], 'thread-1', 'message thread')
    await bob.quiet('message', lambda m: m['body'] == BODY, 'second copy of the message')

    log.info('bob -> alice (full JID)')
    r = bob.make_message(mto=got['from'], mbody=REPLY, mtype='chat')
    r['id'] = 'chat-2'
    r['thread'] = 'thread-1'
    r.send()
    got = await alice.expect_message(REPLY)
    check_eq(got['from'].full, B + '/phone', 'reply from')
    check_eq(got['to'].full, A + '/laptop', 'reply to')
    check_eq(got['type'], 'chat', 'reply type')
    check_eq(got['id'], 'chat-2', 'reply id')
    check_eq(got['thread'], 'thread-1', 'reply thread')

    log.info('alice -> nobody@domain')
    nobody = sc.bare('nobody-here')
    m = alice.make_message(mto=nobody, mbody='anyone?', mtype='chat')
    m['id'] = 'chat-3'
    m.send()
    err = await alice.expect('message', lambda m: m['type'] == 'error' and m['id'] == 'chat-3',
                             'error reply to a message for an unknown account')
    check_eq(err['from'].bare, nobody, 'error from')
    check_eq(err['error']['condition'], 'service-unavailable', 'error condition')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
