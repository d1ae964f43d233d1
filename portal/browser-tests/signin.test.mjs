// The portal in real Chromium: first sign-in registering the `nyckel` CLI as the phone (the
// page learns by itself that it was registered), sign-in with password + push where the page
// shows the number and continues by itself once the CLI approves, a keyboard-only attempt,
// five wrong passwords blocking an account, the sign-in and second-factor pages in Swedish,
// Danish and English, device rename, sign-in with the QR code + 8-digit one-time password the CLI
// makes from the code's text, and device removal (the list updating). One browser launch.
// Environment (set by scripts/test-portal-browser.sh): PORTAL_URL, NYCKEL_CLI, NYCKEL_VAULT,
// NYCKEL_PASSPHRASE, PASSWORD; optional CHROMIUM, SCREENSHOT_DIR.
import { chromium } from "playwright-core";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import assert from "node:assert/strict";
import path from "node:path";

const run = promisify(execFile);
const { PORTAL_URL, NYCKEL_CLI, PASSWORD, SCREENSHOT_DIR } = process.env;
const PIN = "4711";

async function cli(args, extraEnv = {}) {
  const { stdout } = await run(NYCKEL_CLI, args, { env: { ...process.env, NYCKEL_PIN: PIN, ...extraEnv }, timeout: 60_000 });
  return stdout;
}

async function shot(page, name) {
  if (SCREENSHOT_DIR) await page.screenshot({ path: path.join(SCREENSHOT_DIR, `portal-${name}.png`), fullPage: true });
}

async function signIn(page, user, password) {
  await page.goto(`${PORTAL_URL}/`);
  await page.fill("#user", user);
  await page.fill("#password", password);
  await page.click('form[action="/login"] button[type=submit]');
}

let step = "launch";
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const context = await browser.newContext({ locale: "en-GB", viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  // Pages answered 401/403 (a wrong password) and the absent favicon log "Failed to load
  // resource"; anything else (a script error, a Content-Security-Policy refusal) fails the test.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));

  step = "sign-in page";
  await page.goto(`${PORTAL_URL}/`);
  assert.equal(await page.textContent("h1"), "Sign in");
  await shot(page, "sign-in");

  step = "first sign-in registers the CLI as a phone";
  await signIn(page, "alice", PASSWORD);
  await page.waitForURL("**/devices");
  await page.fill("#device-name", "CLI phone");
  await page.click('form[action="/devices/add"] button');
  await page.waitForURL("**/devices/enroll");
  await shot(page, "register-phone");
  const code = (await page.textContent("#enroll-code")).trim();
  assert.match(code, /^nyckel:\/\/enroll\?/);
  const registered = await cli(["register", code]);
  const fingerprint = registered.match(/device code:\s+(\S+)/)[1];
  // Nobody reloads: the page's long poll brings the platform and fingerprint.
  await page.waitForSelector('[data-state="completed"]:not([hidden])', { timeout: 40_000 });
  assert.equal((await page.textContent("#fingerprint")).trim(), fingerprint);
  await shot(page, "phone-registered");
  await page.click("#continue");
  await page.waitForURL("**/home");
  await page.click("form.signout button");
  await page.waitForURL(`${PORTAL_URL}/`);

  step = "password + push: the page shows the number and continues by itself";
  await signIn(page, "alice", PASSWORD);
  await page.waitForURL("**/factor");
  await shot(page, "second-factor");
  await page.click("#push");
  await page.waitForURL("**/factor/push");
  const number = (await page.textContent("#number")).trim();
  assert.match(number, /^\d\d$/);
  await shot(page, "push-number");
  const approved = await cli(["approve", "--wait", "30"], { NYCKEL_NUMBER: number });
  assert.match(approved, /approved/i);
  await page.waitForURL("**/home", { timeout: 40_000 });
  assert.equal((await page.textContent("#account")).trim(), "alice");
  await shot(page, "signed-in");
  await page.click('a[href="/devices"]');
  await page.waitForURL("**/devices");
  assert.ok((await page.textContent("#devices")).includes("CLI phone"));
  await shot(page, "devices");

  step = "rename a device: the list shows the new name";
  const row = page.locator("#devices tbody tr", { hasText: "CLI phone" });
  await row.locator('form[action="/devices/rename"] input[name="name"]').fill("Work phone");
  await row.locator('form[action="/devices/rename"] button').click();
  await page.waitForSelector('#devices tbody tr:has-text("Work phone")');
  assert.ok(!(await page.textContent("#devices")).includes("CLI phone"), "the old name is gone");
  await page.click('a[href="/home"]');
  await page.waitForURL("**/home");
  await page.click("form.signout button");
  await page.waitForURL(`${PORTAL_URL}/`);

  step = "sign-in and second-factor pages in Swedish, Danish and English";
  const headings = { sv: ["Logga in", "Andra steget"], da: ["Log ind", "Andet trin"], en: ["Sign in", "Second step"] };
  for (const [lang, [signInHeading, factorHeading]] of Object.entries(headings)) {
    await page.goto(`${PORTAL_URL}/`);
    await page.click(`button[name="lang"][value="${lang}"]`);
    await page.waitForSelector(`html[lang="${lang}"]`);
    assert.equal(await page.textContent("h1"), signInHeading);
    await signIn(page, "alice", PASSWORD);
    await page.waitForURL("**/factor");
    assert.equal(await page.textContent("h1"), factorHeading);
    assert.equal(await page.getAttribute("html", "lang"), lang);
    await page.click("form.signout button");
    await page.waitForURL(`${PORTAL_URL}/`);
  }
  // The choice page switches language in place too (the switch returns to the same page).
  await signIn(page, "alice", PASSWORD);
  await page.waitForURL("**/factor");
  await page.click('button[name="lang"][value="sv"]');
  await page.waitForSelector('html[lang="sv"]');
  assert.equal(new URL(page.url()).pathname, "/factor");
  assert.equal(await page.textContent("h1"), "Andra steget");
  assert.equal((await page.textContent("#qr")).trim(), "Visa en QR-kod för Nyckel-appen");
  await page.click('button[name="lang"][value="en"]');
  await page.waitForSelector('html[lang="en"]');

  step = "QR code + one-time password: the CLI makes the OTP from the code's text";
  await page.click("#qr");
  await page.waitForURL("**/factor/qr");
  assert.ok(await page.isVisible("img.qr"), "the QR image is shown");
  const qrText = (await page.textContent("#qr-text")).trim();
  await shot(page, "qr-otp");
  const otpOut = await cli(["otp", qrText]);
  const otp = otpOut.match(/One-time password:\s*(\d{8})/)[1];
  await page.fill("#otp", otp);
  await page.click('form[action="/factor/qr/verify"] button[type=submit]');
  await page.waitForURL("**/home");
  assert.equal((await page.textContent("#account")).trim(), "alice");

  step = "remove a device: the list updates";
  await page.click('a[href="/devices"]');
  await page.waitForURL("**/devices");
  await page.locator("#devices tbody tr", { hasText: "Work phone" }).locator('form[action="/devices/remove"] button').click();
  await page.waitForSelector("#no-devices");
  assert.equal(await page.locator("#devices").count(), 0);
  await page.goto(`${PORTAL_URL}/home`);
  await page.click("form.signout button");
  await page.waitForURL(`${PORTAL_URL}/`);

  step = "keyboard only: the sign-in form is reachable and sent without a mouse";
  await page.goto(`${PORTAL_URL}/`);
  // The user-name field has focus on arrival; Tab moves to the password; Enter sends the form.
  assert.equal(await page.evaluate(() => document.activeElement.id), "user");
  await page.keyboard.type("carol");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "password");
  await page.keyboard.type("not-the-password");
  await page.keyboard.press("Enter");
  await page.waitForSelector('[role="alert"]');
  assert.match(await page.textContent('[role="alert"]'), /Wrong user name or password/);

  step = "five wrong passwords block the account";
  for (let i = 2; i <= 5; i++) {
    await signIn(page, "carol", "not-the-password");
    const alert = await page.textContent('[role="alert"]');
    if (i < 5) assert.match(alert, /Wrong user name or password/);
    else assert.match(alert, /blocked/);
  }
  await signIn(page, "carol", PASSWORD);
  assert.match(await page.textContent('[role="alert"]'), /blocked/);
  await shot(page, "blocked");

  step = "language switch";
  await page.goto(`${PORTAL_URL}/`);
  await page.click('button[name="lang"][value="sv"]');
  await page.waitForURL(`${PORTAL_URL}/`);
  assert.equal(await page.textContent("h1"), "Logga in");
  await page.click('button[name="lang"][value="da"]');
  assert.equal(await page.textContent("h1"), "Log ind");

  assert.deepEqual(errors, [], "no console errors (e.g. a CSP refusal)");
  console.log("portal browser test: ok");
} catch (error) {
  console.error(`portal browser test failed at: ${step}`);
  throw error;
} finally {
  await browser.close();
}
