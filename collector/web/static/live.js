// Live alert queue: polls /alerts/live and adds new alerts to the top of the table.
// Served by the collector itself (CSP script-src 'self'); builds rows with textContent only.
(function () {
  "use strict";
  var table = document.getElementById("queue");
  if (!table) { return; }
  var url = table.getAttribute("data-live-url");
  var latest = parseInt(table.getAttribute("data-latest-id") || "0", 10);
  var statusBox = document.getElementById("live-status");
  var tbody = table.tBodies[0];
  var interval = parseInt(table.getAttribute("data-poll-ms") || "3000", 10);
  var added = 0;

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function addRow(a) {
    if (tbody.querySelector('tr[data-alert-id="' + a.id + '"]')) { return; }
    var empty = tbody.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var tr = document.createElement("tr");
    tr.setAttribute("data-alert-id", String(a.id));
    tr.className = "fresh";
    var sev = cell(tr, "");
    var badge = document.createElement("span");
    badge.className = "sev sev-" + a.severity;
    badge.textContent = String(a.severity);
    sev.appendChild(badge);
    var when = cell(tr, "");
    var link = document.createElement("a");
    link.href = a.url;
    link.textContent = a.created_at;
    when.appendChild(link);
    cell(tr, a.category.replace(/_/g, " "));
    var who = cell(tr, "");
    if (a.os_user) {
      var s = document.createElement("a");
      s.href = "/student?login=" + encodeURIComponent(a.os_user);
      s.textContent = a.name || a.os_user;
      who.appendChild(s);
    } else {
      who.textContent = "unknown";
    }
    cell(tr, a.hostname);
    cell(tr, a.site || "");
    cell(tr, a.status.replace(/_/g, " "), "status");
    cell(tr, String(a.count), "num");
    tbody.insertBefore(tr, tbody.firstChild);
    var count = document.getElementById("queue-count");
    if (count) { count.textContent = String(parseInt(count.textContent || "0", 10) + 1); }
  }

  function poll() {
    var sep = url.indexOf("?") === -1 ? "?" : "&";
    fetch(url + sep + "after=" + latest, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) { throw new Error("signed out"); }
        return r.json();
      })
      .then(function (data) {
        data.alerts.forEach(function (a) { addRow(a); added += 1; });
        if (data.alerts.length && statusBox) {
          statusBox.textContent = added + " new alert(s) since this page was opened.";
        }
        latest = Math.max(latest, data.latest_id);
        table.setAttribute("data-latest-id", String(latest));
        window.setTimeout(poll, interval);
      })
      .catch(function (err) {
        if (statusBox) { statusBox.textContent = "Live updates paused: " + err.message + ". Reload the page."; }
      });
  }
  window.setTimeout(poll, interval);
}());
