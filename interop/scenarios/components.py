#!/usr/bin/python3
"""Components: an external component (XEP-0114) made with slixmpp's ComponentXMPP.

Accounts: alice.

The server runs with two components configured (the scenario table's
options in interop_test.go): echo.localhost, which this scenario connects,
and absent.localhost, which it never does; both with
common.COMPONENT_SECRET.

- echo.localhost connects with the handshake and answers: alice's chat
  message to bot@echo.localhost reaches it from alice's full JID, and its
  answer reaches alice from bot@echo.localhost; alice's version query to
  echo.localhost is answered by the component's xep_0092 plugin.
- The component asks the server for its disco#info and gets the server's
  answer, from localhost.
- alice's message to absent.localhost, configured but not connected, comes
  back service-unavailable.
- A component for absent.localhost with a wrong secret gets the
  not-authorized stream error.
- echo.localhost sending from another domain gets the invalid-from stream
  error.
"""

import common
from common import check, check_eq, log
from slixmpp.exceptions import IqError


async def scenario(sc):
    A = sc.bare('alice')
    echo = sc.component('echo.localhost', plugins=('xep_0030', 'xep_0092'))

    def answer(msg):
        if msg['type'] in ('chat', 'normal') and msg['body']:
            msg.reply('echo: ' + msg['body']).send()
    echo.add_event_handler('message', answer)
    await echo.start()
    alice = await sc.login('alice', 'phone', plugins=('xep_0030', 'xep_0092'))

    log.info('alice writes to the component')
    m = alice.make_message(mto='bot@echo.localhost', mbody='hello', mtype='chat')
    m['id'] = 'c1'
    m.send()
    got = await echo.expect('stanza', lambda s: common.local_name(s) == 'message' and s['id'] == 'c1',
                            "alice's message at the component")
    check_eq(got['from'].full, A + '/phone', 'from, as the component sees it')
    check_eq(got['to'].full, 'bot@echo.localhost', 'to, as the component sees it')
    reply = await alice.expect_message('echo: hello')
    check_eq(reply['from'].full, 'bot@echo.localhost', 'answer from')

    log.info("alice asks the component's version")
    v = await alice['xep_0092'].get_version('echo.localhost', timeout=common.WAIT)
    # slixmpp's plugin answers with its own name: the component answered,
    # not the server (which would say minimix).
    check_eq(v['software_version']['name'], 'Slixmpp', 'software name')
    check_eq(v['from'].full, 'echo.localhost', 'version answer from')

    log.info('the component asks the server')
    info = await echo['xep_0030'].get_info(jid=sc.domain, ifrom='echo.localhost', timeout=common.WAIT)
    check_eq(info['from'].full, sc.domain, 'disco#info answer from')
    check('urn:xmpp:ping' in info['disco_info']['features'], "the server's features: %s" % info['disco_info']['features'])

    log.info('a configured component that is not connected')
    m = alice.make_message(mto='absent.localhost', mbody='anyone?', mtype='chat')
    m['id'] = 'c2'
    m.send()
    err = await alice.expect('message', lambda m: m['type'] == 'error' and m['id'] == 'c2',
                             'error for the absent component')
    check_eq(err['error']['condition'], 'service-unavailable', 'error condition')

    log.info('a component with the wrong secret')
    wrong = sc.component('absent.localhost', secret='wrong')
    wrong.connect()
    await wrong.expect('stream_error', what='stream error for a wrong secret')
    check_eq(wrong.stream_errors, ['not-authorized'], 'stream error for a wrong secret')

    log.info('the component sends from another domain')
    bad = echo.make_message(mto=A + '/phone', mfrom='mallory@localhost', mbody='I am someone else', mtype='chat')
    bad.send()
    await echo.expect('stream_error', what='stream error for a forged from')
    check_eq(echo.stream_errors, ['invalid-from'], 'stream error for a forged from')
    await alice.quiet('message', lambda m: m['body'] == 'I am someone else', 'the forged message')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
