"""Shared pieces of the minimix slixmpp interop scenarios.

Every scenario is a script run by interop_test.go (or by hand) as

    /usr/bin/python3 interop/scenarios/NAME.py --host 127.0.0.1 --port N \
        --tls-port M --domain localhost --ca localhost.crt \
        --account alice=PASSWORD --account bob=PASSWORD

It exits 0 when every assertion holds and 1 with a "FAIL:" line otherwise.
Its output is a log of the scenario's steps and of every byte each client
sent and received after TLS ("[alice] SEND ..." / "[alice] RECV ..."), so a
failure shows the exact stanzas on the wire.

Written for Debian's python3-slixmpp 1.8.3; see interop/README.md for the
places where the scenarios work around that version.
"""

import argparse
import asyncio
import logging
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from xml.etree import ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0198.stanza import Resumed
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

# WAIT is how long a scenario waits for any one expected event.
WAIT = 10.0
# SCENARIO_TIMEOUT bounds a whole scenario below the Go test's 60s.
SCENARIO_TIMEOUT = 50.0
# QUIET is how long a scenario listens for stanzas that must not arrive,
# after a round trip to the server has already flushed what was in flight.
QUIET = 0.5

NS_DELAY = 'urn:xmpp:delay'
NS_CARBONS = 'urn:xmpp:carbons:2'
NS_FORWARD = 'urn:xmpp:forward:0'
NS_MAM = 'urn:xmpp:mam:2'
NS_RSM = 'http://jabber.org/protocol/rsm'
NS_SM = 'urn:xmpp:sm:3'
NS_MUC = 'http://jabber.org/protocol/muc'
NS_MUC_USER = NS_MUC + '#user'
NS_MUC_OWNER = NS_MUC + '#owner'
NS_SID = 'urn:xmpp:sid:0'
NS_OCCUPANT_ID = 'urn:xmpp:occupant-id:0'
NS_PING = 'urn:xmpp:ping'
NS_DATA = 'jabber:x:data'
NS_CLIENT = 'jabber:client'
NS_COMPONENT = 'jabber:component:accept'

# RESTART_REQUEST, printed alone on a line, asks whoever runs the scenario
# to restart the server (interop_test.go's restartRequest); the answer comes
# on stdin as "restarted C2S_PORT DIRECT_TLS_PORT".
RESTART_REQUEST = 'interop: restart the server'
# RESTART_WAIT bounds the wait for that answer.
RESTART_WAIT = 20.0

log = logging.getLogger('scenario')
_wire = logging.getLogger('wire')
_start = time.monotonic()


class ScenarioFailed(Exception):
    """An assertion of the scenario did not hold."""


def fail(msg):
    """Fails the scenario: run() prints msg and exits 1."""
    raise ScenarioFailed(msg)


def check(cond, msg):
    """Fails the scenario with msg unless cond holds."""
    if not cond:
        fail(msg)


def check_eq(got, want, what):
    """Fails the scenario unless got == want."""
    if got != want:
        fail('%s: got %r, want %r' % (what, got, want))


def parse_args(description, argv=None):
    """Parses the command line shared by every scenario."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--host', required=True, help='server address to connect to')
    p.add_argument('--port', type=int, required=True, help='client port (STARTTLS)')
    p.add_argument('--tls-port', type=int, default=0, help='direct TLS port (XEP-0368)')
    p.add_argument('--port2', type=int, default=0,
                   help="a second node's client port (STARTTLS), for the cluster scenarios")
    p.add_argument('--domain', default='localhost', help='XMPP domain, also the TLS server name')
    p.add_argument('--ca', required=True, help="PEM file that signs (or is) the server's certificate")
    p.add_argument('--account', action='append', default=[], metavar='NAME=PASSWORD',
                   help='an existing account the scenario may use; repeat')
    p.add_argument('--component-port', type=int, default=0,
                   help='external components port (XEP-0114), when the server has one')
    p.add_argument('--server', default='minimix', choices=('minimix', 'prosody'),
                   help='the server under test: checks of what only minimix promises are '
                        'made against minimix alone')
    args = p.parse_args(argv)
    args.accounts = {}
    for a in args.account:
        name, sep, pw = a.partition('=')
        if not sep:
            p.error('--account wants NAME=PASSWORD, got %r' % a)
        args.accounts[name] = pw
    return args


class _Elapsed(logging.Formatter):
    def format(self, record):
        record.elapsed = time.monotonic() - _start
        return super().format(record)


def _setup_logging():
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(_Elapsed('%(elapsed)7.3f %(name)s %(levelname)s %(message)s'))
    root = logging.getLogger()
    root.handlers[:] = [h]
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)
    _wire.setLevel(logging.DEBUG)


class Client(slixmpp.ClientXMPP):
    """A slixmpp client pinned to the server under test.

    It connects to --host with STARTTLS on --port, or with direct TLS on
    --tls-port, and verifies the server certificate against --ca for the name
    --domain. Reconnection (stream resumption) goes to the same place.

    Received stanzas are recorded (see expect) from the moment the client is
    made, so no scenario races an event handler against a stanza.
    """

    def __init__(self, args, name, resource, password=None, *, direct_tls=False,
                 mech=None, plugins=(), channel_binding=False, label=None,
                 record_stanzas=False, port=None):
        if password is None:
            password = args.accounts[name]
        super().__init__('%s@%s/%s' % (name, args.domain, resource), password, sasl_mech=mech)
        self.label = label or '%s/%s' % (name, resource)
        self.direct_tls = direct_tls
        if port is None:
            port = args.tls_port if direct_tls else args.port
        if not port:
            fail('%s: no port given for %s' % (self.label, 'direct TLS' if direct_tls else 'STARTTLS'))
        self._target = (args.host, port)
        # The TLS server name. slixmpp takes it from the address it connects
        # to unless that is an IP literal, and then it would be "".
        self._domain = args.domain
        self.default_domain = args.domain
        ctx = ssl.create_default_context(cafile=args.ca)
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ssl_context = ctx
        self.ca_certs = Path(args.ca)
        # Subscriptions are answered by the scenario, never by slixmpp.
        self.auto_authorize = None
        self.auto_subscribe = False
        self.whitespace_keepalive = False
        if not channel_binding:
            # slixmpp 1.8.3 knows only tls-unique, which minimix (rightly)
            # does not offer, and sends the GS2 flag "y" for plain SCRAM
            # whenever TLS is up, which a server offering -PLUS must refuse
            # as a downgrade (RFC 5802 section 6). Claiming no channel
            # binding support makes it send "n".
            mechs = self['feature_mechanisms']
            default = mechs._default_credentials

            def no_channel_binding(required, optional):
                creds = default(required, optional)
                if 'channel_binding' in creds:
                    creds['channel_binding'] = None
                return creds
            mechs.sasl_callback = no_channel_binding
            if mech is None:
                # Without channel binding the -PLUS variants cannot work,
                # but slixmpp would try them first (and fail) anyway.
                mechs.use_mechs = {'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'}
        for p in ('xep_0199',) + tuple(plugins):
            self.register_plugin(p)

        self.received = []  # (event, stanza), consumed by expect
        self._changed = asyncio.Event()
        self.failed_auth = []  # <failure/> conditions, in order
        self.stream_errors = []
        for ev in ('message', 'presence', 'carbon_received', 'carbon_sent',
                   'roster_update', 'session_start', 'session_resumed',
                   'sm_enabled', 'sm_failed', 'disconnected', 'failed_auth',
                   'failed_all_auth', 'connection_failed', 'stream_error'):
            self.add_event_handler(ev, self._recorder(ev))
        if record_stanzas:
            # Every message, presence and iq request as it came off the
            # wire, in order, as event 'stanza': slixmpp raises 'message'
            # only for messages with a body, and its plugins consume some.
            self.add_filter('in', self._record_stanza)

    def _record_stanza(self, st):
        # Answers to iqs are left to the futures waiting for them.
        name = local_name(st)
        if name in ('message', 'presence') or (name == 'iq' and st['type'] in ('get', 'set')):
            self.received.append(('stanza', st))
            self._changed.set()
        return st

    def _recorder(self, ev):
        def record(stanza=None):
            if ev == 'failed_auth':
                self.failed_auth.append(stanza['condition'])
            if ev == 'stream_error':
                self.stream_errors.append(stanza['condition'])
                if stanza['condition'] == 'see-other-host':
                    self._follow(stanza['see_other_host'])
            self.received.append((ev, stanza))
            self._changed.set()
        return record

    def _follow(self, other):
        """Reconnects where a see-other-host stream error says (RFC 6120
        4.9.3.19), as slixmpp itself does (it sets self.address, which
        connect() below would otherwise ignore); the TLS name stays the
        domain."""
        host, sep, port = other.rpartition(':')
        if not sep or not port.isdigit():
            log.warning('%s: see-other-host without host:port: %r', self.label, other)
            return
        log.info('%s: redirected to %s', self.label, other)
        self._target = (host.strip('[]'), int(port))

    # Wire log: the bytes after TLS, labelled by client.
    def send_raw(self, data):
        if isinstance(data, bytes):
            text = data.decode('utf-8', 'replace')
        else:
            text = data
        _wire.debug('[%s] SEND %s', self.label, text)
        super().send_raw(data)

    def data_received(self, data):
        _wire.debug('[%s] RECV %s', self.label, data.decode('utf-8', 'replace'))
        super().data_received(data)

    # Connection routing: always the server under test.
    def connect(self, address=None, use_ssl=None, force_starttls=True, disable_starttls=False):
        super().connect(self._target, use_ssl=self.direct_tls,
                        force_starttls=True, disable_starttls=False)
        self.default_domain = self._domain  # read once the connection starts

    async def get_dns_records(self, domain, port=None):
        # No SRV or A lookups: the address given is the server.
        return [(self.default_domain, self._target[0], self._target[1])]

    # Expectations.
    async def expect(self, event, pred=None, what=None, timeout=WAIT):
        """Waits for, consumes and returns the first recorded `event` whose
        stanza satisfies pred; fails the scenario after timeout."""
        what = what or event
        deadline = time.monotonic() + timeout
        while True:
            for i, (ev, st) in enumerate(self.received):
                if ev == event and (pred is None or pred(st)):
                    del self.received[i]
                    return st
            left = deadline - time.monotonic()
            if left <= 0:
                fail('%s: timed out after %.0fs waiting for %s; unconsumed: %s'
                     % (self.label, timeout, what, self.describe_received()))
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    def take(self, event, pred=None):
        """Removes and returns every recorded `event` matching pred."""
        got = [st for ev, st in self.received if ev == event and (pred is None or pred(st))]
        self.received = [(ev, st) for ev, st in self.received
                         if not (ev == event and (pred is None or pred(st)))]
        return got

    def describe_received(self):
        return '[' + ', '.join('%s %s' % (ev, _short(st)) for ev, st in self.received) + ']'

    async def expect_message(self, body, what=None, timeout=WAIT):
        """Waits for a message (not a carbon) carrying body."""
        return await self.expect('message', lambda m: m['body'] == body,
                                 what or 'message with body %r' % body, timeout)

    async def expect_presence(self, ptype, from_bare, what=None, pred=None, timeout=WAIT):
        """Waits for a presence of type ptype ("available", "subscribe", ...)
        from from_bare (bare JID string)."""
        def match(p):
            return (p['type'] == ptype and p['from'].bare == from_bare
                    and (pred is None or pred(p)))
        return await self.expect('presence', match,
                                 what or 'presence type=%s from %s' % (ptype, from_bare), timeout)

    async def barrier(self):
        """A round trip to the server (an XEP-0199 ping): everything the
        server queued for this client before answering has then been
        received. Returns the answer."""
        try:
            return await self['xep_0199'].send_ping(self.boundjid.domain, timeout=WAIT)
        except IqError as e:
            return e.iq  # any answer is a round trip
        except IqTimeout:
            fail('%s: no answer to a ping within %.0fs' % (self.label, WAIT))

    async def quiet(self, event, pred=None, what=None):
        """Asserts that no matching `event` arrives: a round trip to the
        server, a short wait, then nothing may be recorded."""
        await self.barrier()
        await asyncio.sleep(QUIET)
        got = self.take(event, pred)
        if got:
            fail('%s: unexpected %s: %s' % (self.label, what or event,
                                            ', '.join(_short(s) for s in got)))

    async def login(self, timeout=WAIT):
        """Connects and waits for the session to start (after resource
        binding), failing the scenario on any other outcome."""
        self.connect()
        ev = await self._outcome(('session_start',), timeout)
        if ev != 'session_start':
            fail('%s: login failed (%s); SASL failures %s, stream errors %s'
                 % (self.label, ev, self.failed_auth, self.stream_errors))
        self.take('session_start')
        log.info('%s: logged in as %s', self.label, self.boundjid.full)

    async def _outcome(self, wanted, timeout):
        """Waits until one of `wanted` or a failure event is recorded and
        returns its name; the failure events stay recorded."""
        bad = ('failed_all_auth', 'disconnected', 'connection_failed')
        deadline = time.monotonic() + timeout
        while True:
            for ev, _ in self.received:
                if ev in wanted or ev in bad:
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                return 'timeout'
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def close(self):
        """Closes the stream (waiting briefly for the server's close)."""
        if self.transport is None:
            self.cancel_connection_attempt()
            return
        try:
            await asyncio.wait_for(self.disconnect(wait=2.0), 5)
        except Exception:  # a scenario must not fail while cleaning up
            self.abort()

    def cut(self):
        """Drops the TCP connection with a reset: no </stream:stream>, no
        TLS close_notify, as when a mobile network goes away."""
        sock = self.transport.get_extra_info('socket')
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        log.info('%s: cutting the TCP connection', self.label)
        self.transport.abort()

    # Group chat (XEP-0045). These need record_stanzas=True; join_room and
    # create_room also keep slixmpp's xep_0045 plugin (if loaded) informed,
    # so that its get_roster() follows the room.

    def send_join(self, room, nick, join_id, history=None, password=None):
        """Sends a join: presence to room/nick with <x xmlns=muc/> and the
        id join_id; history is a dict of <history/> attributes."""
        p = self.make_presence(pto='%s/%s' % (room, nick))
        p['id'] = join_id
        x = ET.SubElement(p.xml, '{%s}x' % NS_MUC)
        if history is not None:
            ET.SubElement(x, '{%s}history' % NS_MUC, {k: str(v) for k, v in history.items()})
        if password is not None:
            ET.SubElement(x, '{%s}password' % NS_MUC).text = password
        if 'xep_0045' in self.plugin:
            self['xep_0045'].rooms[room] = {}
            self['xep_0045'].our_nicks[room] = nick
        p.send()

    async def expect_join(self, room, join_id, timeout=WAIT):
        """Consumes the answer to a join, which ends with the subject, and
        checks its order (XEP-0045 7.2): occupant presences, the
        self-presence (110) carrying join_id and addressed to this session,
        history, subject. Returns a JoinAnswer."""
        ans = JoinAnswer()
        deadline = time.monotonic() + timeout
        while True:
            st = await self.expect('stanza', lambda s: _jid_bare(s['from']) == room
                                   and local_name(s) in ('presence', 'message'),
                                   'join answer from %s (so far %s)' % (room, ans),
                                   max(0.1, deadline - time.monotonic()))
            check_eq(str(st['to']), self.boundjid.full, '%s: to of %s' % (self.label, _short(st)))
            if local_name(st) == 'presence':
                if st['type'] == 'error':
                    fail('%s: join of %s refused: %s' % (self.label, room, _short(st)))
                check(ans.self is None, '%s: presence after the self-presence: %s' % (self.label, _short(st)))
                if '110' in muc_status(st):
                    check_eq(st['id'], join_id, '%s: id of the self-presence' % self.label)
                    ans.self = st
                else:
                    ans.occupants.append(st)
                continue
            check(ans.self is not None, '%s: message before the self-presence: %s' % (self.label, _short(st)))
            if is_subject(st):
                ans.subject = st
                return ans
            check(st['type'] == 'groupchat' and st.xml.find('{%s}body' % NS_CLIENT) is not None,
                  '%s: unexpected message in the join answer: %s' % (self.label, _short(st)))
            d = st.xml.find('{%s}delay' % NS_DELAY)
            check(d is not None and d.get('from') == room,
                  '%s: history without <delay from=%r/>: %s' % (self.label, room, _short(st)))
            ans.history.append(st)

    async def join_room(self, room, nick, join_id, history=None):
        """Joins room as nick and returns the checked JoinAnswer."""
        self.send_join(room, nick, join_id, history)
        return await self.expect_join(room, join_id)

    async def create_room(self, room, nick, persistent=False):
        """Creates room (status 201) with xep_0045 and configures it as an
        instant room, or as a persistent one, with one muc#owner form."""
        ans = await self.join_room(room, nick, 'create-' + nick)
        check('201' in muc_status(ans.self),
              '%s: %s existed already (no 201): %s' % (self.label, room, _short(ans.self)))
        form = self['xep_0004'].make_form(ftype='submit')
        if persistent:
            form.add_field(var='FORM_TYPE', ftype='hidden', value=NS_MUC + '#roomconfig')
            form.add_field(var='muc#roomconfig_persistentroom', value='1')
        await self['xep_0045'].set_room_config(room, form, timeout=WAIT)
        log.info('%s: created %s%s', self.label, room, ' (persistent)' if persistent else '')
        return ans

    def send_groupchat(self, room, body, msg_id, origin_id=None):
        m = self.make_message(mto=room, mbody=body, mtype='groupchat')
        m['id'] = msg_id
        if origin_id is not None:
            ET.SubElement(m.xml, '{%s}origin-id' % NS_SID, id=origin_id)
        m.send()

    async def expect_groupchat(self, room, body, what=None, timeout=WAIT):
        """Waits for a groupchat message from room (or an occupant) with
        body, addressed to this session."""
        m = await self.expect('stanza', lambda s: is_groupchat(s, room, body),
                              what or 'groupchat %r from %s' % (body, room), timeout)
        check_eq(str(m['to']), self.boundjid.full, '%s: to of %s' % (self.label, _short(m)))
        return m

    async def query_archive(self, with_jid=None, include_groupchat=True, queryid='q'):
        """Queries the account's own archive (XEP-0313) with a raw form,
        include-groupchat set as given (None: the field is left out).
        Returns (results, iq): the <result/> messages carrying queryid, in
        order."""
        iq = self.make_iq_set()
        q = ET.SubElement(iq.xml, '{%s}query' % NS_MAM, queryid=queryid)
        x = ET.SubElement(q, '{%s}x' % NS_DATA, type='submit')

        def field(var, value, ftype=None):
            f = ET.SubElement(x, '{%s}field' % NS_DATA, var=var)
            if ftype:
                f.set('type', ftype)
            ET.SubElement(f, '{%s}value' % NS_DATA).text = value
        field('FORM_TYPE', NS_MAM, 'hidden')
        if with_jid is not None:
            field('with', with_jid)
        if include_groupchat is not None:
            field('include-groupchat', 'true' if include_groupchat else 'false')
        try:
            res = await iq.send(timeout=WAIT)
        except IqError as e:
            fail('%s: MAM query refused: %s' % (self.label, _short(e.iq)))
        except IqTimeout:
            fail('%s: no answer to a MAM query within %.0fs' % (self.label, WAIT))
        check(res.xml.find('{%s}fin' % NS_MAM) is not None, '%s: MAM answer without <fin/>: %s'
              % (self.label, _short(res)))
        results = self.take('stanza', lambda s: _mam_result(s, queryid) is not None)
        return results, res

    def tls_version(self):
        obj = self.transport.get_extra_info('ssl_object') if self.transport else None
        return obj.version() if obj is not None else None


# COMPONENT_SECRET is the secret of every external component the interop
# servers configure (interop_test.go's componentSecret).
COMPONENT_SECRET = 'interop-component-secret'


class Component(slixmpp.ComponentXMPP):
    """A slixmpp external component (XEP-0114) pinned to --host and
    --component-port, recording what it receives like Client (every message,
    presence and iq request as event 'stanza'), with the same wire log."""

    def __init__(self, args, domain, secret=COMPONENT_SECRET, plugins=()):
        if not args.component_port:
            fail('%s: no --component-port given' % domain)
        super().__init__(domain, secret, args.host, args.component_port)
        self.label = domain
        self.server_domain = args.domain
        for p in ('xep_0199',) + tuple(plugins):
            self.register_plugin(p)
        self.received = []
        self._changed = asyncio.Event()
        self.stream_errors = []
        for ev in ('session_start', 'disconnected', 'connection_failed', 'stream_error'):
            self.add_event_handler(ev, self._recorder(ev))
        self.add_filter('in', self._record_stanza)

    _record_stanza = Client._record_stanza
    expect = Client.expect
    take = Client.take
    describe_received = Client.describe_received
    _outcome = Client._outcome
    quiet = Client.quiet

    async def barrier(self):
        """A round trip to the server (a ping from the component's
        domain), like Client.barrier."""
        try:
            return await self['xep_0199'].send_ping(self.server_domain, ifrom=self.boundjid.domain, timeout=WAIT)
        except IqError as e:
            return e.iq
        except IqTimeout:
            fail('%s: no answer to a ping within %.0fs' % (self.label, WAIT))

    def _recorder(self, ev):
        def record(stanza=None):
            if ev == 'stream_error':
                self.stream_errors.append(stanza['condition'])
                if stanza['condition'] == 'see-other-host':
                    self._follow(stanza['see_other_host'])
            self.received.append((ev, stanza))
            self._changed.set()
        return record

    def send_raw(self, data):
        text = data.decode('utf-8', 'replace') if isinstance(data, bytes) else data
        _wire.debug('[%s] SEND %s', self.label, text)
        super().send_raw(data)

    def data_received(self, data):
        _wire.debug('[%s] RECV %s', self.label, data.decode('utf-8', 'replace'))
        super().data_received(data)

    async def start(self, timeout=WAIT):
        """Connects and waits for the handshake to be accepted."""
        self.connect()
        ev = await self._outcome(('session_start',), timeout)
        if ev != 'session_start':
            fail('%s: component handshake failed (%s); stream errors %s' % (self.label, ev, self.stream_errors))
        self.take('session_start')
        log.info('%s: component connected', self.label)

    async def close(self):
        if self.transport is None:
            self.cancel_connection_attempt()
            return
        try:
            await asyncio.wait_for(self.disconnect(wait=2.0), 5)
        except Exception:  # a scenario must not fail while cleaning up
            self.abort()


def local_name(st):
    """The element name of a stanza without its namespace."""
    return st.xml.tag.rpartition('}')[2]


def _jid_bare(j):
    return j.bare


def muc_x(st):
    return st.xml.find('{%s}x' % NS_MUC_USER)


def muc_status(st):
    """The set of XEP-0045 status codes (strings) of a stanza."""
    x = muc_x(st)
    if x is None:
        return set()
    return {s.get('code') for s in x.findall('{%s}status' % NS_MUC_USER)}


def muc_item(st):
    """The muc#user <item/> of a presence, or None."""
    x = muc_x(st)
    return x.find('{%s}item' % NS_MUC_USER) if x is not None else None


def stanza_ids(el):
    """{by: [id, ...]} of the XEP-0359 <stanza-id/> children of an element
    (a stanza or an ElementTree element)."""
    el = getattr(el, 'xml', el)
    out = {}
    for s in el.findall('{%s}stanza-id' % NS_SID):
        out.setdefault(s.get('by'), []).append(s.get('id'))
    return out


def is_subject(st):
    """A room's subject message: <subject/> and no body (XEP-0045 8.1)."""
    return (local_name(st) == 'message' and st['type'] == 'groupchat'
            and st.xml.find('{%s}subject' % NS_CLIENT) is not None
            and st.xml.find('{%s}body' % NS_CLIENT) is None)


def is_groupchat(st, room, body=None):
    """A groupchat message with a body from room or one of its occupants."""
    if local_name(st) != 'message' or st['type'] != 'groupchat' or _jid_bare(st['from']) != room:
        return False
    b = st.xml.find('{%s}body' % NS_CLIENT)
    return b is not None and (body is None or b.text == body)


def is_presence_from(st, occupant, ptype=None):
    """A presence from occupant (full JID string), of ptype if given
    ('available' for none)."""
    return (local_name(st) == 'presence' and str(st['from']) == occupant
            and (ptype is None or st['type'] == ptype))


def _mam_result(st, queryid):
    if local_name(st) != 'message':
        return None
    r = st.xml.find('{%s}result' % NS_MAM)
    if r is None or r.get('queryid') != queryid:
        return None
    return r


def mam_forwarded(st):
    """The archived message (ElementTree element) inside a MAM result
    message, and the <delay/> of its <forwarded/>."""
    fwd = st.xml.find('{%s}result/{%s}forwarded' % (NS_MAM, NS_FORWARD))
    check(fwd is not None, 'MAM result without <forwarded/>: %s' % _short(st))
    msg = fwd.find('{%s}message' % NS_CLIENT)
    check(msg is not None, 'MAM <forwarded/> without a message: %s' % _short(st))
    return msg, fwd.find('{%s}delay' % NS_DELAY)


class JoinAnswer:
    """What a room (or the server, for it) answers a join with."""

    def __init__(self):
        self.occupants = []  # presences of the other occupants, in order
        self.self = None     # the self-presence (110)
        self.history = []    # history messages, in order
        self.subject = None  # the subject message

    def occupant_jids(self):
        return [str(p['from']) for p in self.occupants]

    def history_bodies(self):
        return [m.xml.find('{%s}body' % NS_CLIENT).text for m in self.history]

    def subject_text(self):
        s = self.subject.xml.find('{%s}subject' % NS_CLIENT) if self.subject is not None else None
        return (s.text or '') if s is not None else None

    def __str__(self):
        return 'occupants %s, self %s, %d history, subject %s' % (
            self.occupant_jids(), 'yes' if self.self is not None else 'no',
            len(self.history), 'yes' if self.subject is not None else 'no')


def _read_line(stream, timeout):
    """Reads a line from a blocking stream without blocking the event loop
    or, should the answer never come, the interpreter's exit."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def done(line):
        if not fut.done():
            fut.set_result(line)

    def reader():
        try:
            line = stream.readline()
        except Exception:  # closed, or not readable: the same as no answer
            line = ''
        try:
            loop.call_soon_threadsafe(done, line)
        except RuntimeError:
            pass  # the scenario is over
    threading.Thread(target=reader, daemon=True).start()
    return asyncio.wait_for(fut, timeout)


def _short(stanza):
    if stanza is None:
        return '-'
    try:
        s = str(stanza)
    except Exception:
        s = repr(stanza)
    return s if len(s) <= 600 else s[:600] + '...'


def watch_resumed(client):
    """Returns the list that the <resumed/> elements client receives are
    appended to. slixmpp 1.8.3's session_resumed event passes the last
    re-sent stanza instead of <resumed/> when it has any, so <resumed/> is
    recorded directly."""
    seen = []
    client.register_handler(Callback('interop resumed', MatchXPath(Resumed.tag_name()),
                                     seen.append, instream=True))
    return seen


async def expect_resumed(client, seen, sm_id, sent_before, full):
    """Waits until client's stream is resumed and checks the resumption:
    one <resumed/> (seen, from watch_resumed) with previd sm_id and h
    sent_before (the stanzas the client sent before it was cut off), the
    same full JID, no new session."""
    ev = await client._outcome(('session_resumed', 'session_start', 'sm_failed'), WAIT)
    if ev != 'session_resumed':
        detail = [str(st) for e, st in client.received if e in ('sm_failed', 'disconnected')]
        fail('%s: expected <resumed/>, got %s %s; SASL failures %s, stream errors %s'
             % (client.label, ev, detail, client.failed_auth, client.stream_errors))
    client.take('session_resumed')
    check_eq(len(seen), 1, 'number of <resumed/> elements')
    check_eq(seen[0]['previd'], sm_id, '<resumed/> previd')
    check_eq(seen[0]['h'], sent_before, "<resumed/> h (stanzas of the client's the server handled)")
    check_eq(client.boundjid.full, full, 'bound JID after resumption')
    check(not client.take('session_start'), 'a new session started instead of resuming')


async def cut_while_sent(client, sender, bodies, full, bare):
    """Cuts client's connection (Client.cut) and has sender send it bodies
    meanwhile, to its full JID, or to bare for a body that says 'bare';
    none may bounce."""
    client.cut()
    await client.expect('disconnected', what='the local disconnect after the cut')
    log.info('%s sends while %s is cut off', sender.label, client.label)
    for body in bodies:
        sender.send_message(mto=bare if 'bare' in body else full, mbody=body, mtype='chat')
    await sender.barrier()
    # Give the server time to see the reset rather than race it; the
    # result must be the same either way.
    await asyncio.sleep(0.5)
    await sender.quiet('message', lambda m: m['type'] == 'error', 'error for a message sent during the cut')


async def expect_in_order(client, bodies, sender, what):
    """Waits for messages with bodies from sender (a full JID), once each,
    in that order."""
    for body in bodies:
        m = await client.expect('message', lambda m: m['body'] in bodies, what)
        check_eq(m['body'], body, what + ', in order')
        check_eq(m['from'].full, sender, 'message from')


class Scenario:
    """Owns the clients of one scenario so they are all closed at the end."""

    def __init__(self, args):
        self.args = args
        self.domain = args.domain
        # minimix is False when a plain XEP-0045 scenario runs against
        # another server (Prosody): checks of minimix's own promises are
        # left out then.
        self.minimix = args.server == 'minimix'
        self.clients = []
        self.failures = []  # from soft(), reported when the scenario ends

    async def soft(self, awaitable):
        """Awaits a check whose failure should not hide the ones after it:
        the failure is logged and the scenario still fails at the end."""
        try:
            return await awaitable
        except ScenarioFailed as e:
            log.error('FAIL (continuing): %s', e)
            self.failures.append(str(e))
            return None

    def bare(self, name):
        return '%s@%s' % (name, self.domain)

    def client(self, name, resource, **kw):
        c = Client(self.args, name, resource, **kw)
        self.clients.append(c)
        return c

    def component(self, domain, **kw):
        """Makes an external component (closed with the clients)."""
        c = Component(self.args, domain, **kw)
        self.clients.append(c)
        return c

    async def login(self, name, resource, presence=True, priority=None, **kw):
        """Makes a client, logs in and, if presence, sends initial presence."""
        c = self.client(name, resource, **kw)
        await c.login()
        if presence:
            if priority is None:
                c.send_presence()
            else:
                c.send_presence(ppriority=priority)
        return c

    async def restart_server(self):
        """Has the server restarted on its data directory, as an operator
        would: prints RESTART_REQUEST and waits for "restarted C2S_PORT
        DIRECT_TLS_PORT" on stdin (interop_test.go answers it; by hand,
        restart the server and type it). Clients made afterwards dial the
        new ports; the ones connected before lose their streams to the
        shutdown."""
        log.info('asking for a server restart')
        print(RESTART_REQUEST, flush=True)
        try:
            line = await _read_line(sys.stdin, RESTART_WAIT)
        except asyncio.TimeoutError:
            fail('no answer to %r on stdin within %.0fs' % (RESTART_REQUEST, RESTART_WAIT))
        parts = line.split()
        if len(parts) != 3 or parts[0] != 'restarted' or not (parts[1].isdigit() and parts[2].isdigit()):
            fail('answer to %r on stdin: got %r, want "restarted C2S_PORT DIRECT_TLS_PORT"'
                 % (RESTART_REQUEST, line))
        self.args.port, self.args.tls_port = int(parts[1]), int(parts[2])
        log.info('server restarted: STARTTLS port %d, direct TLS port %d',
                 self.args.port, self.args.tls_port)

    async def close(self):
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


def run(description, body):
    """Runs `await body(scenario)` with a bound on time and exits: 0 when it
    returns, 1 when it fails or raises."""
    args = parse_args(description)
    _setup_logging()
    log.info('slixmpp %s, python %s', slixmpp.__version__, sys.version.split()[0])

    async def main():
        sc = Scenario(args)
        try:
            await asyncio.wait_for(body(sc), SCENARIO_TIMEOUT)
        finally:
            await sc.close()
        if sc.failures:
            fail('; '.join(sc.failures))

    code = 1
    try:
        asyncio.run(main())
        code = 0
    except ScenarioFailed as e:
        print('FAIL: %s' % e, flush=True)
    except asyncio.TimeoutError:
        traceback.print_exc(file=sys.stdout)
        print('FAIL: scenario did not finish within %.0fs' % SCENARIO_TIMEOUT, flush=True)
    except Exception:
        traceback.print_exc(file=sys.stdout)
        print('FAIL: unexpected exception', flush=True)
    if code == 0:
        print('PASS', flush=True)
    sys.stdout.flush()
    sys.exit(code)
