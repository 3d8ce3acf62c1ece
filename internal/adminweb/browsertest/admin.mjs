// Drives the admin page in Debian's chromium through playwright-core (no
// browser download). Run by TestBrowserAdminPage (browser_test.go), which
// starts the server and plays the XMPP clients: this script prints
// "STEP name" lines on stdout and waits for the test's "go" (or "fail
// reason") on stdin before going on.
//
// Environment: BASE_URL, ADMIN_USER, ADMIN_PASSWORD, NEW_USER,
// NEW_PASSWORD, ROOM, SCREENSHOTS (a directory), CHROMIUM.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { join } from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("BASE_URL");
const shots = env("SCREENSHOTS");
const newUser = env("NEW_USER");
const room = env("ROOM");

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function step(name) {
  process.stdout.write(`STEP ${name}\n`);
  const { value, done } = await lines.next();
  if (done) throw new Error(`stdin closed after step ${name}`);
  if (value !== "go") throw new Error(`test failed at step ${name}: ${value}`);
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("dialog", (d) => d.accept()); // the destructive forms' confirmations
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Console errors are script errors and CSP refusals; a failed login's
  // 401 is logged there too, and is no error of the page.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("status of 401")) errors.push(m.text());
  });
  const shot = (name) => page.screenshot({ path: join(shots, name), fullPage: true });

  // Nothing before login: the page sends the browser to the login form.
  await page.goto(base + "/admin/accounts");
  check(new URL(page.url()).pathname === "/admin/login", `not sent to the login form: ${page.url()}`);
  await page.fill("#user", "wrong");
  await page.fill("#password", "wrong-password");
  await page.click("button:has-text('Log in')");
  await page.waitForLoadState();
  if (!(await page.content()).includes("Wrong name or password.")) {
    throw new Error("no error for a wrong password: " + (await page.content()));
  }
  await page.fill("#user", env("ADMIN_USER"));
  await page.fill("#password", "");
  await shot("login.png");
  await page.fill("#password", env("ADMIN_PASSWORD"));
  await page.click("button:has-text('Log in')");
  await page.waitForSelector("h1:has-text('Status')");

  // Create an account.
  await page.click("nav >> text=Accounts");
  await page.fill("#create-account input[name=name]", newUser);
  await page.fill("#create-account input[name=password]", env("NEW_PASSWORD"));
  await page.click("#create-account button");
  await page.waitForSelector(`.flash.ok:has-text('Account ${newUser} created.')`);
  await page.waitForSelector(`tr[data-account='${newUser}']`);
  await page.goto(base + "/admin/accounts");
  await shot("accounts.png");
  await step("created"); // the test logs in as the new account

  // Watch the account join appear when its client joins the room.
  await page.goto(base + `/admin/joins?account=${newUser}`);
  check(await page.locator(`tr[data-room='${room}']`).count() === 0, "a join is listed before the client joined");
  await step("watching"); // the test's client joins the room
  const row = page.locator(`tr[data-room='${room}']`);
  for (let i = 0; (await row.count()) === 0; i++) {
    check(i < 50, "the account join did not appear");
    await page.waitForTimeout(200);
    await page.reload();
  }
  const text = await row.innerText();
  for (const want of [newUser, room, "joined", "session"]) {
    check(text.includes(want), `the join row lacks ${want}: ${text}`);
  }
  await page.goto(base + "/admin/joins");
  await shot("joins.png");

  // Force the account out of the room.
  await page.goto(base + `/admin/joins?account=${newUser}`);
  await row.locator("button:has-text('Leave')").click();
  await page.waitForSelector(`.flash.ok:has-text('left ${room}')`);
  check(await page.locator(`tr[data-room='${room}']`).count() === 0, "the join is still listed after the leave");
  await step("left"); // the test checks its client got unavailable presence with 110

  // The other pages, for the docs.
  await page.goto(base + "/admin/");
  await shot("status.png");
  await page.goto(base + "/admin/sessions");
  await shot("sessions.png");
  await page.click("#sessions tr >> nth=1 >> a"); // an account's own page
  await page.waitForSelector("h2:has-text('Account joins')");
  await shot("account.png");
  await page.goto(base + "/admin/rooms");
  await page.locator("details").first().evaluate((d) => { d.open = true; });
  await shot("rooms.png");
  await page.goto(base + "/admin/charts");
  await page.waitForFunction(() => Number(document.body.dataset.samples || 0) >= 3, null, { timeout: 30000 });
  await page.waitForSelector("svg[data-chart=sessions] polyline");
  await shot("charts.png");
  check(errors.length === 0, "errors in the page: " + errors.join("; "));
  await step("done");
} finally {
  await browser.close();
}
