// driver.js runs Debian's chromium through playwright-core for the Go test
// TestBrowser (internal/web/browser_test.go): one browser for the whole
// run, driven by commands, one JSON object a line on stdin, each answered
// by one JSON line on stdout ({"id", "ok", "result"} or {"id", "ok":
// false, "error"}). Pages' console lines and errors go to stderr, which
// the Go test prints when it fails.
//
// Commands: open {page, url, ignoreHTTPSErrors?, routes?: [{from, to}]}
// (a fresh browser context: no storage shared between pages), waitFor {page, selector, text?, count?, timeout},
// type {page, selector, text} (fills the field and presses Enter),
// eval {page, expr}, count {page, selector}, close {page}, quit.
'use strict';

const { chromium } = require('playwright-core');
const readline = require('readline');

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

async function main() {
	const browser = await chromium.launch({
		executablePath,
		headless: true,
		// Root in CI containers: no sandbox there.
		args: ['--no-sandbox', '--disable-dev-shm-usage'],
	});
	const pages = new Map(); // name -> {context, page}
	const get = (name) => {
		const p = pages.get(name);
		if (!p) throw new Error(`no page ${name}`);
		return p.page;
	};
	const ops = {
		async open({ page, url, ignoreHTTPSErrors, routes }) {
			// ignoreHTTPSErrors: the server's generated certificate.
			const context = await browser.newContext({ ignoreHTTPSErrors: !!ignoreHTTPSErrors });
			// routes: requests for the URL from are answered with what the
			// URL to answers (a domain's well-known URL served by the
			// test's server on another port).
			for (const r of routes || []) {
				await context.route(r.from, async (route) => {
					const resp = await route.fetch({ url: r.to });
					await route.fulfill({ response: resp });
				});
			}
			const pg = await context.newPage();
			pg.on('console', (m) => process.stderr.write(`[${page} console.${m.type()}] ${m.text()}\n`));
			pg.on('pageerror', (e) => process.stderr.write(`[${page} pageerror] ${e.stack || e}\n`));
			pg.on('requestfailed', (r) => process.stderr.write(`[${page} requestfailed] ${r.url()} ${r.failure() && r.failure().errorText}\n`));
			pages.set(page, { context, page: pg });
			await pg.goto(url);
			return true;
		},
		async waitFor({ page, selector, text, timeout }) {
			let loc = get(page).locator(selector);
			if (text) loc = loc.filter({ hasText: text });
			await loc.first().waitFor({ state: 'visible', timeout: timeout || 30000 });
			return true;
		},
		async count({ page, selector }) {
			return await get(page).locator(selector).count();
		},
		async type({ page, selector, text }) {
			const loc = get(page).locator(selector).first();
			await loc.fill(text);
			await loc.press('Enter');
			return true;
		},
		async eval({ page, expr }) {
			return await get(page).evaluate(expr);
		},
		async screenshot({ page, path }) {
			await get(page).screenshot({ path, fullPage: true });
			return true;
		},
		async close({ page }) {
			const p = pages.get(page);
			if (p) {
				pages.delete(page);
				await p.context.close();
			}
			return true;
		},
	};
	const rl = readline.createInterface({ input: process.stdin });
	const reply = (o) => process.stdout.write(JSON.stringify(o) + '\n');
	reply({ id: 0, ok: true, result: browser.version() });
	for await (const line of rl) {
		if (!line.trim()) continue;
		let cmd;
		try {
			cmd = JSON.parse(line);
		} catch (e) {
			reply({ id: -1, ok: false, error: `bad command: ${e}` });
			continue;
		}
		if (cmd.op === 'quit') break;
		const op = ops[cmd.op];
		try {
			if (!op) throw new Error(`unknown op ${cmd.op}`);
			reply({ id: cmd.id, ok: true, result: await op(cmd) });
		} catch (e) {
			reply({ id: cmd.id, ok: false, error: String(e && e.message || e) });
		}
	}
	await browser.close();
}

main().then(
	() => process.exit(0),
	(e) => {
		process.stderr.write(`driver: ${e.stack || e}\n`);
		process.exit(1);
	},
);
