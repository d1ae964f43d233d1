// The portal's e-mail flows in real Chromium, with mail read from the loopback SMTP sink's
// directory (scripts/smtp-sink.py): an invitation → password (zxcvbn's refusal shown) → first
// second factor (an authenticator app) → signed in; a later sign-in with a code from the app (the
// set-up's code refused as used); the e-mail sign-in link refused in a second
// browser context with the warning and completing in the asking browser, whose waiting page
// continues by itself; "remember this browser" skipping the second step, then void 20 days later
// (the portal's injected clock); a password reset; a contact address added and verified by the
// code mailed to it.
// Environment (set by scripts/test-portal-browser.sh): PORTAL_URL, MAIL_DIR, INVITED (a user
// invited before the portal started, at INVITED@example.org), CLOCK_OFFSET_FILE (the portal's
// `--test-clock-offset-file`: seconds added to its time); optional CHROMIUM, SCREENSHOT_DIR.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const { PORTAL_URL, MAIL_DIR, INVITED, SCREENSHOT_DIR, CLOCK_OFFSET_FILE } = process.env;
const FIRST_PASSWORD = "amber kestrel lantern 41";
const NEW_PASSWORD = "quiet meadow copper 58";
const WARNING = "If you did not request this, someone knows your password";

async function shot(page, name) {
  if (SCREENSHOT_DIR) await page.screenshot({ path: path.join(SCREENSHOT_DIR, `portal-${name}.png`), fullPage: true });
}

// Messages the sink kept, oldest first.
function messages() {
  return fs.readdirSync(MAIL_DIR).filter((f) => f.endsWith(".json")).sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(MAIL_DIR, f), "utf8")));
}

// The link to `route` in the first message after the `seen` first ones; waits for it to arrive.
async function mailedLink(route, seen) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const fresh = messages().slice(seen);
    for (const m of fresh) {
      const found = m.body.match(new RegExp(`https?://\\S+${route.replace("/", "\\/")}\\?t=[A-Za-z0-9_-]{43}`));
      if (found) return found[0];
    }
    if (Date.now() > deadline) throw new Error(`no e-mail with ${route} after ${seen} messages`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// RFC 6238 (SHA-1, 6 digits, 30 s) from a base32 secret, as an authenticator app computes it.
function totp(secret, at = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const mac = crypto.createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

async function signIn(page, user, password) {
  await page.goto(`${PORTAL_URL}/`);
  await page.fill("#user", user);
  await page.fill("#password", password);
  await page.click('form[action="/login"] button[type=submit]');
}

async function signOut(page) {
  await page.click("form.signout button");
  await page.waitForURL(`${PORTAL_URL}/`);
}

let step = "launch";
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const context = await browser.newContext({ locale: "en-GB", viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));

  step = "invitation: a weak password is refused with zxcvbn's feedback, a strong one is set";
  await page.goto(await mailedLink("/invite", 0));
  assert.equal(await page.textContent("h1"), "Choose your password");
  await page.fill("#password", "password1");
  await page.fill("#password2", "password1");
  await page.click('form[action="/invite"] button');
  assert.match(await page.textContent("#form-error"), /too easy to guess/);
  assert.ok((await page.textContent("#feedback")).trim().length > 0, "zxcvbn's feedback is shown");
  await shot(page, "invitation-weak-password");
  await page.fill("#password", FIRST_PASSWORD);
  await page.fill("#password2", FIRST_PASSWORD);
  await page.click('form[action="/invite"] button');

  step = "invitation: then the first second factor (an authenticator app), and signed in";
  await page.waitForURL("**/devices");
  await page.click('a[href="/totp"]');
  await page.waitForURL("**/totp");
  const secret = (await page.textContent("#totp-secret")).trim();
  const setupCode = totp(secret);
  await page.fill("#code", setupCode);
  await page.click('form[action="/totp/confirm"] button');
  await page.waitForURL("**/home");
  assert.equal((await page.textContent("#account")).trim(), INVITED);
  await signOut(page);

  step = "authenticator app at a later sign-in: the used code refused, the next step's code signs in";
  await signIn(page, INVITED, FIRST_PASSWORD);
  await page.waitForURL("**/factor");
  await page.fill("#totp", setupCode);
  await page.click('form[action="/factor/totp"] button[type=submit]');
  assert.match(await page.textContent("[role=alert]"), /Wrong code/);
  // Each code works once, so the portal's clock moves one 30-second step ahead (its test
  // clock's offset file) and the test computes the code for that time: no waiting.
  fs.writeFileSync(CLOCK_OFFSET_FILE, "30");
  await page.fill("#totp", totp(secret, Date.now() + 30_000));
  await page.click('form[action="/factor/totp"] button[type=submit]');
  await page.waitForURL("**/home");
  assert.equal((await page.textContent("#account")).trim(), INVITED);

  step = "contact address: added, then verified by the code mailed to it";
  const extra = `${INVITED}.work@example.org`;
  const mailedBefore = messages().length;
  await page.click('a[href="/contacts"]');
  await page.waitForURL("**/contacts");
  assert.match(await page.textContent(`#contacts li[data-address="${INVITED}@example.org"]`), /\(verified\)/);
  await page.fill("#address", extra);
  await page.click('form[action="/contacts/add"] button');
  const entry = page.locator(`#contacts li[data-address="${extra}"]`);
  await entry.locator('form[action="/contacts/verify"]').waitFor();
  assert.match(await entry.textContent(), /\(not verified\)/);
  const codeDeadline = Date.now() + 20_000;
  let contactCode;
  while (!contactCode) {
    const m = messages().slice(mailedBefore).find((m) => m.to.includes(extra));
    contactCode = m && m.body.match(/\b(\d{6})\b/)[1];
    if (!contactCode) {
      if (Date.now() > codeDeadline) throw new Error("no code mailed to the contact address");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await entry.locator('input[name="code"]').fill(contactCode);
  await entry.locator('form[action="/contacts/verify"] button').click();
  await page.waitForSelector(`#contacts li[data-address="${extra}"]:has-text("(verified)")`);
  assert.equal(await entry.locator('form[action="/contacts/verify"]').count(), 0);
  await page.goto(`${PORTAL_URL}/home`);
  await signOut(page);

  step = "e-mail link: refused in another browser with the warning";
  const before = messages().length;
  await signIn(page, INVITED, FIRST_PASSWORD);
  await page.waitForURL("**/factor");
  await page.click("#email-link");
  await page.waitForURL("**/factor/email");
  await shot(page, "email-link-sent");
  const link = await mailedLink("/email/link", before);
  const stranger = await browser.newContext({ locale: "en-GB" });
  const strangerPage = await stranger.newPage();
  const refused = await strangerPage.goto(link);
  assert.equal(refused.status(), 403);
  assert.match(await strangerPage.textContent("[role=alert]"), new RegExp(WARNING));
  await shot(strangerPage, "email-link-refused");
  await strangerPage.goto(`${PORTAL_URL}/home`);
  assert.equal(new URL(strangerPage.url()).pathname, "/", "the other browser is not signed in");
  await stranger.close();

  step = "e-mail link: opened in the asking browser, and the waiting page continues by itself";
  const tab = await context.newPage();
  await tab.goto(link);
  await tab.waitForURL("**/home");
  await page.waitForURL("**/home", { timeout: 40_000 });
  assert.equal((await page.textContent("#account")).trim(), INVITED);
  await tab.close();
  await signOut(page);

  step = "remember this browser: ticked at the second step, the next sign-in skips it";
  const count = messages().length;
  await signIn(page, INVITED, FIRST_PASSWORD);
  await page.waitForURL("**/factor");
  await page.check("#remember-email");
  await page.click("#email-link");
  await page.waitForURL("**/factor/email");
  const again = await context.newPage();
  await again.goto(await mailedLink("/email/link", count));
  await again.waitForURL("**/home");
  await again.close();
  await page.goto(`${PORTAL_URL}/home`);
  await signOut(page);
  await signIn(page, INVITED, FIRST_PASSWORD);
  await page.waitForURL("**/home");
  await page.click('a[href="/remembered"]');
  await page.waitForURL("**/remembered");
  assert.match(await page.textContent("#remembered"), /this browser/);
  await shot(page, "remembered-browsers");
  await page.goto(`${PORTAL_URL}/home`);
  await signOut(page);

  step = "remember this browser: 20 days later the second step is asked again";
  // 20 days after the browser was remembered, which was already 30 s ahead (the TOTP step).
  fs.writeFileSync(CLOCK_OFFSET_FILE, String(20 * 24 * 3600 + 60));
  await signIn(page, INVITED, FIRST_PASSWORD);
  await page.waitForURL("**/factor");
  await signOut(page);

  step = "password reset by e-mail: a link, a new password, the old one refused";
  const sent = messages().length;
  await page.click("#forgot");
  await page.waitForURL("**/forgot");
  await page.fill("#user", INVITED);
  await page.click('form[action="/forgot"] button');
  await page.waitForSelector("#forgot-sent");
  await page.goto(await mailedLink("/reset", sent));
  await page.fill("#password", NEW_PASSWORD);
  await page.fill("#password2", NEW_PASSWORD);
  await page.click('form[action="/reset"] button');
  await page.waitForSelector("#reset-done");
  await shot(page, "password-reset");
  await signIn(page, INVITED, FIRST_PASSWORD);
  assert.match(await page.textContent("[role=alert]"), /Wrong user name or password/);
  await signIn(page, INVITED, NEW_PASSWORD);
  await page.waitForURL("**/factor");

  assert.deepEqual(errors, [], "no console errors");
  console.log("portal e-mail browser test: ok");
} catch (e) {
  console.error(`portal e-mail browser test failed at: ${step}`);
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
