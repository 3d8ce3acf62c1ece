#!/usr/bin/python3
"""Account join across a restart: rooms come back as they were, and only those that still exist.

Accounts: alice, bob.

- alice's phone creates two rooms on conference.DOMAIN: T, temporary, and
  P, persistent. Its connection is then cut: the account stays in both
  (docs/account-join.md, rule 15).
- The server restarts (interop_test.go, on the same data). T, temporary
  and empty of clients, is gone with the restart; P is not.
- bob joins T: he creates it (201) and owns it; alice is not in it. Her
  account's rejoin did not bring the room back (rule 24, issue 10 item 5).
- bob joins P: alice is there, rejoined with no session online (rule 21).
- alice's laptop joins P: answered by the server, its self-presence has
  110 and neither the 201 of P's creation nor a 210 (rule 2, issue 10
  item 4: profanity read the replayed 201 as "room locked").
"""

import common
from common import check, check_eq, log

PLUGINS = ('xep_0045', 'xep_0004')


async def scenario(sc):
    T = 'restart-temporary@conference.' + sc.domain
    P = 'restart-persistent@conference.' + sc.domain
    phone = await sc.login('alice', 'phone', plugins=PLUGINS, record_stanzas=True)
    await phone.create_room(T, 'alice')
    await phone.create_room(P, 'alice', persistent=True)
    phone.cut()

    await sc.restart_server()

    bob = await sc.login('bob', 'pc', plugins=PLUGINS, record_stanzas=True)
    log.info('bob joins the temporary room')
    ans = await bob.join_room(T, 'bob', 'join-bob-t')
    check('201' in common.muc_status(ans.self),
          'bob: %s existed after the restart (alice\'s rejoin re-created it): %s' % (T, ans.self))
    check_eq(common.muc_item(ans.self).get('affiliation'), 'owner', 'bob: his affiliation in the room he made')
    check_eq(ans.occupant_jids(), [], 'bob: occupants of the new room')

    log.info('bob joins the persistent room')
    ans = await bob.join_room(P, 'bob', 'join-bob-p')
    check_eq(ans.occupant_jids(), [P + '/alice'], 'bob: occupants of %s after the restart' % P)
    check('201' not in common.muc_status(ans.self), 'bob: %s was re-created: %s' % (P, ans.self))

    log.info('alice\'s laptop joins the persistent room')
    laptop = await sc.login('alice', 'laptop', plugins=PLUGINS, record_stanzas=True)
    ans = await laptop.join_room(P, 'alice', 'join-laptop-p')
    codes = common.muc_status(ans.self)
    check('110' in codes, 'laptop: self-presence without 110: %s' % ans.self)
    check('201' not in codes and '210' not in codes,
          'laptop: self-presence replays an old event (201 or 210): %s' % ans.self)
    check_eq(ans.occupant_jids(), [P + '/bob'], 'laptop: occupants')
    await bob.quiet('stanza', lambda s: common.is_presence_from(s, P + '/alice', 'unavailable'),
                    'alice leaving when her laptop joined')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
