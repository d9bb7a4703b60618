"""The look of the run-history pages: the HTML shell every page shares and its one
stylesheet (inline, so a page is one request and works with no other route).
Colours follow the run statuses: green succeeded, red failed, amber timed out,
blue running, grey abandoned or skipped."""

__all__ = ["CSS", "SHELL"]

SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
{refresh}<title>{title} · Kusto Flows</title>
<link rel="icon" href="data:,">
<style>{css}</style>
</head>
<body>
<header class="topbar"><div class="wrap topbar-in">
<a class="brand" href="{home}"><svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
<rect width="24" height="24" rx="6" fill="#0f6cbd"/>
<path d="M6 7h5v4H6zM13 13h5v4h-5z" fill="#fff"/>
<path d="M8.5 11v4h4.5" fill="none" stroke="#fff" stroke-width="1.6"/></svg>Kusto Flows</a>
<span class="topbar-note">Run history · times in UTC</span>
</div></header>
<main class="wrap">
{crumbs}
{body}
</main>
</body>
</html>
"""

CSS = """
:root{--bg:#f5f6f8;--card:#fff;--line:#e2e5ea;--line2:#eef0f3;--text:#1b2330;--muted:#5d6877;
--accent:#0f6cbd;--accent-d:#0c5aa0;--ok:#107c10;--ok-bg:#e8f5e6;--bad:#c50f1f;--bad-bg:#fdecee;
--warn:#b35900;--warn-bg:#fff3e0;--run:#0f6cbd;--run-bg:#e6f0fa;--gone:#69717c;--gone-bg:#eef0f2;
--skip:#9aa2ad;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:14px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
code,pre,.mono{font-family:var(--mono);font-size:12.5px}
.wrap{max-width:1160px;margin:0 auto;padding:0 24px}
main.wrap{padding-top:14px;padding-bottom:48px}
.topbar{background:#fff;border-bottom:1px solid var(--line)}
.topbar-in{display:flex;align-items:center;justify-content:space-between;height:52px}
.brand{display:flex;align-items:center;gap:10px;font-weight:650;font-size:15px;color:var(--text)}
.brand:hover{text-decoration:none}
.topbar-note{color:var(--muted);font-size:12.5px}
.crumbs{margin:4px 0 4px;font-size:13px;color:var(--muted)}
.crumbs>*+*:before{content:"›";margin:0 8px;color:#a3abb6}
.crumbs span[aria-current]{color:var(--text)}
h1{font-size:22px;line-height:1.3;margin:6px 0 4px;font-weight:650;display:flex;
align-items:center;gap:12px;flex-wrap:wrap}
h2{font-size:15px;margin:0;font-weight:650}
.lede{color:var(--muted);margin:0 0 18px;max-width:80ch}
.head{display:flex;justify-content:space-between;align-items:flex-start;gap:16px;
flex-wrap:wrap;margin-bottom:6px}
.actions{display:flex;gap:8px;align-items:center;flex-wrap:wrap}
td .actions{flex-wrap:nowrap;justify-content:flex-end}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;
box-shadow:0 1px 2px rgba(16,24,40,.04);margin:16px 0}
.card-head{display:flex;justify-content:space-between;align-items:center;gap:12px;
padding:12px 18px;border-bottom:1px solid var(--line2)}
.card-body{padding:16px 18px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.muted{color:var(--muted)}.small{font-size:12.5px}
table{width:100%;border-collapse:collapse}
th{text-align:left;font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;
letter-spacing:.03em;padding:10px 18px;border-bottom:1px solid var(--line);background:#fafbfc}
td{padding:11px 18px;border-bottom:1px solid var(--line2);vertical-align:top}
tr:last-child td{border-bottom:0}
tbody tr:hover td{background:#fafcff}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.nowrap{white-space:nowrap}
.flow-name{font-weight:600;font-size:14.5px}
.desc{color:var(--muted);margin:2px 0 0;max-width:60ch}
.tag{display:inline-block;font-size:11.5px;font-weight:600;padding:1px 8px;border-radius:999px;
background:var(--line2);color:var(--muted);margin-left:6px;vertical-align:1px}
.tag-hook{background:var(--run-bg);color:var(--run)}
.tag-off{background:var(--warn-bg);color:var(--warn)}
.tag-fail{background:var(--bad);color:#fff}
.badge{display:inline-flex;align-items:center;gap:6px;font-weight:600;font-size:12.5px;
padding:2px 10px 2px 4px;border-radius:999px;white-space:nowrap}
.badge .icon{width:16px;height:16px}
.s-succeeded{color:var(--ok);background:var(--ok-bg)}
.s-failed{color:var(--bad);background:var(--bad-bg)}
.s-timedout{color:var(--warn);background:var(--warn-bg)}
.s-running{color:var(--run);background:var(--run-bg)}
.s-abandoned{color:var(--gone);background:var(--gone-bg)}
.s-skipped{color:var(--gone);background:var(--gone-bg)}
h1 .badge{font-size:13.5px;padding:3px 12px 3px 5px}
.icon{flex:none;vertical-align:-3px}
.icon-succeeded circle{fill:var(--ok)}.icon-failed circle{fill:var(--bad)}
.icon-timedout circle{fill:var(--warn)}.icon-running circle{fill:var(--run)}
.icon-abandoned circle{fill:var(--gone)}.icon-skipped circle{fill:var(--skip)}
.btn{font:inherit;font-weight:600;font-size:13px;border-radius:6px;padding:6px 14px;
border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;
display:inline-block;line-height:1.4;white-space:nowrap}
.btn:hover{background:var(--accent-d);text-decoration:none}
.btn-quiet{background:#fff;color:var(--text);border-color:#cdd2da}
.btn-quiet:hover{background:#f3f5f8}
.btn[disabled]{opacity:.5;cursor:not-allowed}
form.inline{display:inline;margin:0}
.filters{display:flex;gap:4px;flex-wrap:wrap}
.filters a{padding:4px 12px;border-radius:999px;color:var(--muted);font-weight:600;font-size:13px;
border:1px solid transparent}
.filters a:hover{background:var(--line2);text-decoration:none}
.filters a[aria-current]{background:#fff;border-color:var(--line);color:var(--text);
box-shadow:0 1px 2px rgba(16,24,40,.06)}
.pager{display:flex;justify-content:space-between;align-items:center;padding:12px 18px;
border-top:1px solid var(--line2);font-size:13px}
.chart svg{display:block;width:100%;height:auto}
.chart .grid{stroke:var(--line2);stroke-width:1}.chart .axis{fill:var(--muted);font-size:11px}
.chart .bar{fill:var(--skip)}.chart a:hover .bar{opacity:.75}
.chart rect.s-succeeded{fill:#3a9e3a}.chart rect.s-failed{fill:var(--bad)}
.chart rect.s-timedout{fill:#e08a1e}.chart rect.s-running{fill:var(--run)}
.chart rect.s-abandoned{fill:#a7aeb8}
.legend{display:flex;gap:14px;font-size:12px;color:var(--muted)}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
.empty{padding:36px 18px;text-align:center;color:var(--muted)}
.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:14px 24px;
margin:0;padding:16px 18px}
.meta dt{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.meta dd{margin:2px 0 0;font-weight:500;overflow-wrap:anywhere}
.callout{border:1px solid #f3c1c6;border-left:4px solid var(--bad);background:var(--bad-bg);
border-radius:8px;padding:12px 16px;margin:16px 0;display:flex;gap:10px;align-items:flex-start}
.callout p{margin:0}.callout.info{border-color:#bcd6ee;border-left-color:var(--accent);
background:var(--run-bg)}
.callout.warn{border-color:#f0d2a8;border-left-color:var(--warn);background:var(--warn-bg)}
.callout .icon{margin-top:2px}
.steps{list-style:none;margin:0;padding:0}
.step{border-bottom:1px solid var(--line2);padding:10px 18px}
.step:last-child{border-bottom:0}
.step-row{display:grid;grid-template-columns:minmax(240px,1.25fr) minmax(160px,1.6fr) 76px;
gap:16px;align-items:center}
.step-name{display:flex;align-items:flex-start;gap:10px;min-width:0}
.step-name .icon{margin-top:2px}
.step-id{font-family:var(--mono);font-weight:600;font-size:13px;overflow-wrap:anywhere}
.step-parent{color:var(--muted);font-weight:400}
.step-action{color:var(--muted);font-size:12px}
.step-summary{color:var(--muted);font-size:12.5px;overflow-wrap:anywhere}
.track{height:8px;background:var(--line2);border-radius:4px;position:relative}
.track span{position:absolute;top:0;bottom:0;border-radius:4px;min-width:3px;
background:#7fb0de}
.st-failed .track span{background:var(--bad)}.st-timedout .track span{background:#e08a1e}
.st-skipped .step-id{color:var(--muted);font-weight:500}
.step.is-failing{background:#fff8f8;box-shadow:inset 3px 0 0 var(--bad)}
.step .dur{text-align:right;font-variant-numeric:tabular-nums;font-size:13px}
details.error{margin:10px 0 4px;border:1px solid #f3c1c6;border-radius:8px;background:#fff}
details.error summary{cursor:pointer;padding:8px 12px;font-weight:600;color:var(--bad)}
details.error dl{margin:0;padding:4px 12px 12px;display:grid;grid-template-columns:90px 1fr;
gap:6px 12px}
details.error dt{color:var(--muted);font-size:12.5px}
details.error dd{margin:0;min-width:0}
form.run-now{display:grid;gap:8px;padding:16px}
form.run-now textarea{width:100%;box-sizing:border-box;font-family:var(--mono);font-size:12.5px;
padding:8px;border:1px solid #c8c6c4;border-radius:4px}
form.run-now .btn{justify-self:start}
pre.trigger-body{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
details.error pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;background:#fbf4f5;
padding:8px 10px;border-radius:6px;font-size:12.5px}
.invalid-list{list-style:none;margin:0}.invalid-list>li+li{margin-top:14px}
.problems{margin:6px 0 0;padding-left:18px}
.problems li{font-family:var(--mono);font-size:12.5px;color:var(--bad);margin:2px 0;
overflow-wrap:anywhere}
.error-page{max-width:640px;margin:48px auto;text-align:center}
.error-page .code{font-size:44px;font-weight:700;color:#c4cad3;margin:0}
@media (max-width:760px){.step-row{grid-template-columns:1fr 64px}.step-row .track{display:none}
th.hide-sm,td.hide-sm{display:none}}
@media (prefers-reduced-motion:no-preference){.btn{transition:background .12s}}
"""
