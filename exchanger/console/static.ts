/**
 * The console's one stylesheet, served from /console/static/ (the CSP allows styles from 'self'
 * only, never inline). Kept here as text so the compiled lib/ needs no copied asset. Readable at
 * 390 px: one column, wrapping definition lists, tables that scroll inside their own box.
 */
export const CONSOLE_CSS = `
*,*::before,*::after{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;line-height:1.45;color:#1b1f24;background:#f6f8fa}
body{margin:0}
a{color:#0550ae}
a:focus-visible,button:focus-visible,textarea:focus-visible,[tabindex]:focus-visible{outline:3px solid #0969da;outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem}
.skip:focus{left:.5rem}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;background:#24292f;color:#fff}
.top a{color:#fff}
.brand{font-weight:700;text-decoration:none;font-size:1.1rem}
.top nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}
.top nav a[aria-current=page]{text-decoration:underline;text-underline-offset:.3em}
.signout{margin-left:auto;display:flex;align-items:center;gap:.5rem}
.who{font-weight:600}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem;overflow-wrap:anywhere}
.card h2{margin-top:0}
.muted{color:#57606a;font-weight:400}
.lead{color:#57606a}
.cards{list-style:none;margin:0;padding:0;display:grid;gap:1rem}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:1rem}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
.facts dt{color:#57606a}
.facts dd{margin:0;overflow-wrap:anywhere;min-width:0}
@media (max-width:30rem){.facts.wide{grid-template-columns:1fr}.facts.wide dd{margin-bottom:.4rem}}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.9em;overflow-wrap:anywhere}
.links{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}
.button,button{display:inline-block;font:inherit;padding:.45rem .9rem;border-radius:6px;border:1px solid #8c959f;background:#f6f8fa;color:#1b1f24;text-decoration:none;cursor:pointer;min-height:2.75rem}
.primary{background:#1a7f37;border-color:#1a7f37;color:#fff}
.danger{background:#cf222e;border-color:#cf222e;color:#fff}
.top button{background:transparent;color:#fff;border-color:#8c959f}
.decide{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:1rem}
.decide h2{margin-top:0}
.decision{display:grid;gap:.4rem;margin-bottom:1rem}
textarea{font:inherit;width:100%;padding:.4rem;border:1px solid #8c959f;border-radius:6px}
.notice{padding:.6rem .8rem;border-radius:6px;border:1px solid}
.notice.error{background:#ffebe9;border-color:#cf222e;color:#82071e}
.notice.ok{background:#dafbe1;border-color:#1a7f37;color:#044f1e}
.ctl{background:#fff8c5;border:1px dashed #9a6700;color:#6b4a00;font-family:ui-monospace,monospace;padding:0 .15em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff}
table{min-width:34rem}
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #d0d7de}
td:last-child{overflow-wrap:anywhere}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.crumbs{margin:.25rem 0}
.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.75rem 1rem;margin-bottom:1rem}
.field{display:grid;gap:.2rem;min-width:0;flex:1 1 10rem}
input,select{font:inherit;padding:.4rem;border:1px solid #8c959f;border-radius:6px;background:#fff;min-height:2.75rem;width:100%;min-width:0}
input:focus-visible,select:focus-visible{outline:3px solid #0969da;outline-offset:2px}
form.inline{margin:.75rem 0 0}
.pager{display:flex;flex-wrap:wrap;gap:.5rem 1rem;margin:1rem 0}
tr.flagged td{background:#ffebe9}
.card h3{font-size:1rem;margin:0 0 .5rem;overflow-wrap:anywhere}
pre.explain{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.75rem;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
`;
