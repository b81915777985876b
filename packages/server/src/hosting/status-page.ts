import { createHash } from "node:crypto";
import type { UsageReport } from "./usage-report.js";

/**
 * A user's status page (`GET /_status`): their repositories, usage against quota and last write,
 * as one HTML document with no script and nothing loaded from elsewhere. Its only style sheet is
 * inline and allowed by its hash, so the Content-Security-Policy allows nothing else at all.
 */

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{padding:.3em .8em;border-bottom:1px solid #ccc;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}small{color:#666}meter{width:8em}`;

/** The page's Content-Security-Policy: its own inline style and nothing else (no script, image, frame, form). */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash("sha256").update(STYLE, "utf8").digest("base64")}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The status page of `report`, every name and figure escaped. */
export function statusPageHtml(report: UsageReport): string {
  const rows = report.repositories.map(
    (repo) => `<tr data-repo="${escapeHtml(repo.name)}">
<td><code>${escapeHtml(repo.path)}</code></td>
${figureCells(repo.bytes, repo.objects, repo.quota)}
<td>${timeCell(repo.lastWrite)}</td>
</tr>`,
  );
  const user = escapeHtml(report.user);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Storage of ${user}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Storage of ${user}</h1>
<table>
<thead><tr><th>Repository</th><th>Size</th><th>Objects</th><th>Quota</th><th>Used</th><th>Last write</th></tr></thead>
<tbody>
${rows.length > 0 ? rows.join("\n") : '<tr><td colspan="6">No repositories yet.</td></tr>'}
</tbody>
<tfoot><tr data-total="">
<th>All repositories</th>
${figureCells(report.bytes, report.objects, report.quota)}
<td>${timeCell(report.lastWrite)}</td>
</tr></tfoot>
</table>
<p><small>Figures as the server keeps them, at ${escapeHtml(new Date().toISOString())}. The same as JSON: <code>/_usage</code>.</small></p>
</body>
</html>
`;
}

function figureCells(bytes: number, objects: number, quota: number | null): string {
  const used = (quota === null ? 0 : quota === 0 ? (bytes > 0 ? 100 : 0) : Math.min(100, (bytes / quota) * 100)).toFixed(1);
  return [
    `<td class="n" data-bytes="${bytes}">${escapeHtml(humanSize(bytes))}<br><small>${bytes} bytes</small></td>`,
    `<td class="n" data-objects="${objects}">${objects}</td>`,
    quota === null
      ? '<td class="n" data-quota="">none</td>'
      : `<td class="n" data-quota="${quota}">${escapeHtml(humanSize(quota))}<br><small>${quota} bytes</small></td>`,
    quota === null
      ? "<td></td>"
      : `<td><meter min="0" max="100" value="${used}">${used} %</meter> ${used} %</td>`,
  ].join("\n");
}

function timeCell(iso: string | null): string {
  return iso === null ? "never" : `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso)}</time>`;
}

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];

function humanSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

const ENTITIES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] as string);
}
