// SMS and administration in real Chromium: a first sign-in that sets up a mobile number
// (the code read from the SMS sink directory), a later sign-in with an SMS code, and an
// organisation whose first account approves a colleague's access request (TRACES), with the
// audit log showing it. One browser launch, one context per person.
// Environment (set by scripts/test-portal-browser.sh): PORTAL_URL, SMS_SINK, PASSWORD;
// optional CHROMIUM, SCREENSHOT_DIR.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

const { PORTAL_URL, SMS_SINK, PASSWORD, SCREENSHOT_DIR } = process.env;

async function shot(page, name) {
  if (SCREENSHOT_DIR) await page.screenshot({ path: path.join(SCREENSHOT_DIR, `portal-${name}.png`), fullPage: true });
}

/** The messages in the sink, oldest first. */
async function messages() {
  let files = [];
  try { files = (await readdir(SMS_SINK)).filter((f) => f.endsWith(".json")).sort(); } catch { return []; }
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(path.join(SMS_SINK, f), "utf8"))));
}

/** The code of the newest SMS to `to`, which must be newer than the first `after` (the portal
 * writes the file before it answers, so it is there once the page has loaded). */
async function codeFor(to, after) {
  const list = (await messages()).filter((m) => m.to === to);
  assert.ok(list.length > after, `no new SMS to ${to}`);
  return list[list.length - 1].text.match(/\b(\d{6})\b/)[1];
}

async function signIn(page, user) {
  await page.goto(`${PORTAL_URL}/`);
  await page.fill("#user", user);
  await page.fill("#password", PASSWORD);
  await page.click('form[action="/login"] button[type=submit]');
}

/** First sign-in: the account has no factor, so it sets up SMS and ends signed in. */
async function firstSignInWithSms(page, user, number, shots = false) {
  await signIn(page, user);
  await page.waitForURL("**/devices");
  await page.click("#setup-sms");
  await page.waitForURL("**/sms");
  const before = (await messages()).filter((m) => m.to === number.replace(/ /g, "")).length;
  await page.fill("#mobile", number);
  await page.click('form[action="/sms/number"] button');
  await page.waitForURL("**/sms");
  const code = await codeFor(number.replace(/ /g, ""), before);
  if (shots) await shot(page, "sms-verify-number");
  await page.fill("#code", code);
  await page.click('form[action="/sms/verify"] button');
  await page.waitForURL("**/home");
}

let step = "launch";
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const errors = [];
  async function person() {
    const context = await browser.newContext({ locale: "en-GB", viewport: { width: 900, height: 900 } });
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    return page;
  }

  step = "first sign-in sets up a mobile number verified by an SMS code";
  const dave = await person();
  await firstSignInWithSms(dave, "dave", "+46 70 111 22 33", true);
  assert.equal((await dave.textContent("#account")).trim(), "dave");
  await dave.click("form.signout button");
  await dave.waitForURL(`${PORTAL_URL}/`);

  step = "sign in with password + SMS code";
  await signIn(dave, "dave");
  await dave.waitForURL("**/factor");
  const before = (await messages()).filter((m) => m.to === "+46701112233").length;
  await dave.click("#sms");
  await dave.waitForURL("**/factor/sms");
  assert.match(await dave.textContent("#masked"), /233$/);
  const code = await codeFor("+46701112233", before);
  await shot(dave, "sms-code");
  // A wrong code first: refused with an alert, the page stays.
  await dave.fill("#sms-code", code === "000000" ? "111111" : "000000");
  await dave.click('form[action="/factor/sms/verify"] button');
  await dave.waitForSelector('[role="alert"]');
  assert.match(await dave.textContent('[role="alert"]'), /Wrong code|wrong/i);
  await dave.fill("#sms-code", code);
  await dave.click('form[action="/factor/sms/verify"] button');
  await dave.waitForURL("**/home");
  assert.equal((await dave.textContent("#account")).trim(), "dave");

  step = "the first account of an organisation becomes its administrator";
  const erin = await person();
  await firstSignInWithSms(erin, "erin", "+45 20 11 22 33");
  await erin.click('a[href="/org"]');
  await erin.waitForURL("**/org");
  await erin.fill("#org", "demo-trade");
  await erin.fill("#org-name", "Demo Trade AB");
  await erin.click('form[action="/org/join"] button');
  await erin.waitForURL("**/org");
  assert.equal(await erin.getAttribute("#membership", "data-role"), "admin");

  step = "a colleague asks for access";
  const frank = await person();
  await firstSignInWithSms(frank, "frank", "+45 20 44 55 66");
  await frank.goto(`${PORTAL_URL}/org`);
  await frank.fill("#org", "demo-trade");
  await frank.click('form[action="/org/join"] button');
  await frank.waitForURL("**/org");
  assert.equal(await frank.getAttribute("#membership", "data-role"), "pending");
  // Not an administrator: the administration page is refused.
  const refused = await frank.goto(`${PORTAL_URL}/admin`);
  assert.equal(refused.status(), 403);

  step = "the administrator approves the request";
  await erin.click("#admin-link");
  await erin.waitForURL("**/admin");
  assert.ok(await erin.isVisible('#requests tr[data-account="frank"]'));
  await shot(erin, "admin-requests");
  await erin.click('#requests tr[data-account="frank"] button[value="approve"]');
  await erin.waitForURL("**/admin");
  assert.ok(await erin.isVisible("#no-requests"));
  assert.ok(await erin.isVisible('#members tr[data-account="frank"]'));
  await erin.click("#audit-link");
  await erin.waitForURL("**/admin/audit");
  assert.ok((await erin.textContent("#audit")).includes("access_approved"));
  await shot(erin, "admin-audit");
  await frank.goto(`${PORTAL_URL}/org`);
  assert.equal(await frank.getAttribute("#membership", "data-role"), "member");

  assert.deepEqual(errors, [], "no console errors (e.g. a CSP refusal)");
  console.log("portal SMS and administration browser test: ok");
} catch (error) {
  console.error(`portal SMS and administration browser test failed at: ${step}`);
  throw error;
} finally {
  await browser.close();
}
