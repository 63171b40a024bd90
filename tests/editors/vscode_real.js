// Drives real VS Code (code-server in headless Chromium, playwright-core) through a list of steps.
//
//   node vscode_real.js <playwright-core dir> <scenario.json>
//
// scenario: {url, chromium, screenshots, steps: [{do: ..., ...}]}; prints one JSON report line:
// {steps: [{do, ok, value?}], error?}. Every request that is not to 127.0.0.1 is blocked.
"use strict";
const path = require("path");
const fs = require("fs");
const { chromium } = require(process.argv[2]);
const scenario = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const GHOST = ".ghost-text-decoration, .ghost-text-decoration-preview";

async function palette(page, command) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(">" + command);
  await page.locator(".quick-input-list .monaco-list-row").first().waitFor();
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");
}

async function ghostText(page, timeout) {
  await page.locator(GHOST).first().waitFor({ state: "attached", timeout });
  return (await page.locator(GHOST).allTextContents()).join("").replace(/\u00a0/g, " ");
}

const actions = {
  async open(page, step) {
    await page.keyboard.press("Control+P");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ state: "visible" });
    await input.fill(step.file);
    await page.locator(".quick-input-list .monaco-list-row").first().waitFor();
    await page.waitForTimeout(300);
    await page.keyboard.press("Enter");
    await page.locator(".monaco-editor .view-lines").first().waitFor();
    await page.locator(".monaco-editor textarea").first().focus();
  },
  async goto(page, step) {
    await page.keyboard.press("Control+G");
    await page.keyboard.type(`${step.line}:${step.column}`);
    await page.keyboard.press("Enter");
    await page.waitForTimeout(200);
  },
  async type(page, step) {
    await page.keyboard.type(step.text, { delay: step.delay ?? 50 });
  },
  async press(page, step) {
    await page.keyboard.press(step.key);
    await page.waitForTimeout(step.wait ?? 300);
  },
  async command(page, step) {
    await palette(page, step.name);
    await page.waitForTimeout(step.wait ?? 500);
  },
  async ghost(page, step) {
    if (!step.retrigger) {
      return await ghostText(page, step.timeout ?? 20000);
    }
    // A model still loading answers nothing: ask again (Trigger Inline Suggestion) until ghost text shows.
    const deadline = Date.now() + (step.timeout ?? 20000);
    for (;;) {
      await palette(page, "Trigger Inline Suggestion");
      try {
        return await ghostText(page, step.each ?? 15000);
      } catch (error) {
        if (Date.now() > deadline) {
          throw error;
        }
      }
    }
  },
  async noGhost(page, step) {
    await page.waitForTimeout(step.wait ?? 1500);
    return await page.locator(GHOST).count();
  },
  async status(page, step) {
    const item = page.locator("#codegemma-fim\\.codegemma-fim\\.codegemma\\.status, [id$='codegemma.status']").first();
    await item.waitFor({ timeout: step.timeout ?? 20000 });
    if (step.contains) {
      await page.waitForFunction(
        ([selector, text]) => document.querySelector(selector)?.textContent?.includes(text),
        ["[id$='codegemma.status']", step.contains],
        { timeout: step.timeout ?? 20000, polling: 50 },
      );
    }
    if (step.spinning) {
      // VS Code asks after its own debounce: wait for the request to start rather than reading the item once.
      await page.waitForFunction(
        (selector) => document.querySelector(selector) !== null,
        "[id$='codegemma.status'] .codicon-modifier-spin",
        { timeout: step.timeout ?? 20000, polling: 25 },
      );
    }
    return { text: (await item.textContent()).trim(), spinning: (await item.locator(".codicon-modifier-spin").count()) > 0 };
  },
  async notification(page, step) {
    const toast = page.locator(".notifications-toasts .notification-list-item-message", { hasText: step.contains });
    await toast.first().waitFor({ timeout: step.timeout ?? 20000 });
    return (await toast.first().textContent()).trim();
  },
  async click(page, step) {
    await page.locator(step.selector).first().click();
    await page.waitForTimeout(step.wait ?? 300);
  },
  async wait(page, step) {
    await page.waitForTimeout(step.ms);
  },
  async screenshot(page, step) {
    await page.screenshot({ path: path.join(scenario.screenshots, step.name + ".png"), clip: step.clip });
  },
};

(async () => {
  const report = { steps: [] };
  const browser = await chromium.launch({ executablePath: scenario.chromium, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 620 } });
    await page.route("**/*", (route) => {
      const host = new URL(route.request().url()).hostname;
      return host === "127.0.0.1" ? route.continue() : route.abort();
    });
    await page.goto(scenario.url);
    await page.locator(".monaco-workbench").waitFor({ timeout: 60000 });
    await page.waitForTimeout(1000);
    for (const step of scenario.steps) {
      const entry = { do: step.do, name: step.name ?? step.key ?? step.file };
      report.steps.push(entry);
      entry.value = await actions[step.do](page, step);
      entry.ok = true;
    }
  } catch (error) {
    report.error = String(error && error.stack ? error.stack : error);
    const page = browser.contexts()[0]?.pages()[0];
    await page?.screenshot({ path: scenario.failureScreenshot }).catch(() => {});
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(report));
})();
