#!/usr/bin/python3
"""Ad-hoc commands (XEP-0050) and service administration (XEP-0133).

Accounts: alice (the server's admin), bob.

What Gajim, Psi and profanity do with slixmpp's xep_0050 and xep_0133
plugins. The server's disco#info lists http://jabber.org/protocol/commands.
alice's command list (disco#items on the node
http://jabber.org/protocol/commands) has ping and the XEP-0133 commands
under their XEP node names, each with the server's JID and a name; bob's
has ping only, and bob's execution of add-user is refused with forbidden.
bob runs ping: completed, with a note.

alice adds carol with the add-user workflow (execute, the form with
accountjid, password and password-verify, complete with the filled form);
carol logs in with that password. alice counts the online users (bob and
carol, and herself: 3) and lists them. alice announces: bob and carol get
a headline message from the server with the text. alice ends carol's
session (end-user-session): carol's stream ends. alice deletes carol
(delete-user): carol can no longer log in. A made-up session id is
refused with bad-request and <bad-sessionid/>; a cancelled session is
gone (not-allowed, <session-expired/>).
"""

import asyncio

import common
from common import check, check_eq, fail, log
from slixmpp.exceptions import IqError

NS_COMMANDS = 'http://jabber.org/protocol/commands'
NS_ADMIN = 'http://jabber.org/protocol/admin'
PLUGINS = ('xep_0004', 'xep_0030', 'xep_0050', 'xep_0133')
ADMIN_NODES = ['add-user', 'delete-user', 'change-user-password', 'end-user-session',
               'get-registered-users-num', 'get-online-users-num',
               'get-registered-users-list', 'get-online-users-list', 'announce']


def error_of(e):
    """The condition and the ad-hoc condition of an IqError."""
    err = e.iq.xml.find('{jabber:client}error')
    app = None
    if err is not None:
        for c in err:
            if c.tag.startswith('{%s}' % NS_COMMANDS):
                app = c.tag.split('}')[1]
    return e.iq['error']['condition'], app


async def commands(c, domain):
    items = await c['xep_0050'].get_commands(domain, timeout=common.WAIT)
    out = []
    for jid, node, name in items['disco_items']['items']:
        check_eq(str(jid), domain, 'JID of command %s' % node)
        check(name, 'command %s has no name' % node)
        out.append(node)
    return out


async def run_workflow(c, domain, node, fill):
    """Runs a command as the xep_0050 workflow does: execute, then fill
    the form it returns with fill(form) and complete. Returns the final
    command stanza; an error answer fails the scenario."""
    done = asyncio.get_running_loop().create_future()

    def on_next(iq, session):
        if iq['command']['status'] == 'completed':
            if not done.done():
                done.set_result(iq)
            return
        form = iq['command']['form']
        check(form is not None and form['type'] == 'form', '%s: no form in %s' % (node, iq))
        actions = iq['command']['actions']
        check('complete' in actions, '%s: actions %s lack complete' % (node, actions))
        answer = c['xep_0004'].make_form(ftype='submit')
        answer.add_field(var='FORM_TYPE', ftype='hidden', value=NS_ADMIN)
        for var, value in fill(form.get_fields()).items():
            answer.add_field(var=var, value=value)
        session['payload'] = answer
        session['next'] = on_next
        c['xep_0050'].complete_command(session)

    def on_error(iq, session):
        if not done.done():
            done.set_exception(common.ScenarioFailed('%s: error %s' % (node, iq)))

    c['xep_0050'].start_command(domain, NS_ADMIN + '#' + node, {'next': on_next, 'error': on_error})
    return await asyncio.wait_for(done, common.WAIT)


def result_values(iq, var):
    form = iq['command']['form']
    fields = form.get_fields()
    check(var in fields, 'result form lacks %s: %s' % (var, iq))
    v = fields[var]['value']
    return v if isinstance(v, list) else [v]


async def scenario(sc):
    d = sc.domain
    alice = await sc.login('alice', 'admin', plugins=PLUGINS)
    bob = await sc.login('bob', 'pc', plugins=PLUGINS)

    info = await alice['xep_0030'].get_info(jid=d, timeout=common.WAIT)
    check(NS_COMMANDS in info['disco_info']['features'], 'the server does not list %s' % NS_COMMANDS)

    got = await commands(alice, d)
    want = ['ping'] + [NS_ADMIN + '#' + n for n in ADMIN_NODES]
    check_eq(sorted(got), sorted(want), "the admin's commands")
    check_eq(await commands(bob, d), ['ping'], "a user's commands")
    log.info('command lists: admin %d commands, user ping only', len(got))

    try:
        await bob['xep_0050'].send_command(d, NS_ADMIN + '#add-user', timeout=common.WAIT)
        fail('bob may run add-user')
    except IqError as e:
        check_eq(error_of(e), ('forbidden', None), "bob's add-user")
    iq = await bob['xep_0050'].send_command(d, 'ping', timeout=common.WAIT)
    check_eq(iq['command']['status'], 'completed', 'ping status')
    check_eq([n[1] for n in iq['command']['notes']], ['Pong'], 'ping notes')
    log.info('bob: add-user forbidden, ping answered')

    def carol_form(fields):
        for v in ('accountjid', 'password', 'password-verify'):
            check(v in fields, 'add-user form lacks %s: %s' % (v, list(fields)))
        check_eq(fields['accountjid']['type'], 'jid-single', 'type of accountjid')
        return {'accountjid': sc.bare('carol'), 'password': 'carol-secret', 'password-verify': 'carol-secret'}
    await run_workflow(alice, d, 'add-user', carol_form)
    carol = sc.client('carol', 'laptop', password='carol-secret', plugins=PLUGINS)
    await carol.login()
    carol.send_presence()
    log.info('carol added and logged in')

    iq = await alice['xep_0050'].send_command(d, NS_ADMIN + '#get-online-users-num', timeout=common.WAIT)
    check_eq(result_values(iq, 'onlineusersnum'), ['3'], 'online users')
    iq = await run_workflow(alice, d, 'get-online-users-list', lambda f: {'max_items': 'none'})
    check_eq(sorted(result_values(iq, 'onlineuserjids')),
             [sc.bare('alice'), sc.bare('bob'), sc.bare('carol')], 'online user list')

    await run_workflow(alice, d, 'announce', lambda f: {'announcement': 'Maintenance at noon'})
    for c in (bob, carol):
        m = await c.expect('message', lambda m: m['body'] == 'Maintenance at noon', 'the announcement')
        check_eq((str(m['from']), m['type']), (d, 'headline'), 'announcement from and type')
    log.info('announcement delivered')

    await run_workflow(alice, d, 'end-user-session', lambda f: {'accountjids': sc.bare('carol')})
    await carol.expect('disconnected', what="carol's stream to end")
    await run_workflow(alice, d, 'delete-user', lambda f: {'accountjids': sc.bare('carol')})
    again = sc.client('carol', 'again', password='carol-secret')
    again.connect()
    ev = await again._outcome(('session_start',), common.WAIT)
    check(ev != 'session_start', 'carol logged in after her deletion')
    log.info('carol: session ended, account deleted')

    try:
        await alice['xep_0050'].send_command(d, NS_ADMIN + '#announce', sessionid='made-up', timeout=common.WAIT)
        fail('a made-up session id was taken')
    except IqError as e:
        check_eq(error_of(e), ('bad-request', 'bad-sessionid'), 'made-up session id')
    iq = await alice['xep_0050'].send_command(d, NS_ADMIN + '#announce', timeout=common.WAIT)
    sid = iq['command']['sessionid']
    iq = await alice['xep_0050'].send_command(d, NS_ADMIN + '#announce', action='cancel', sessionid=sid, timeout=common.WAIT)
    check_eq(iq['command']['status'], 'canceled', 'status after cancel')
    try:
        await alice['xep_0050'].send_command(d, NS_ADMIN + '#announce', sessionid=sid, timeout=common.WAIT)
        fail('a cancelled session went on')
    except IqError as e:
        check_eq(error_of(e), ('not-allowed', 'session-expired'), 'cancelled session')
    log.info('session errors: bad-sessionid, session-expired')

if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
