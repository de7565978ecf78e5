// A job request's page, live: every second, read /api/job-requests/{id} and update each job's row and the
// request's status, until the request is done. The rows the server rendered work without this script.
(function () {
  const table = document.getElementById("jobs");
  if (!table) return;
  const id = table.dataset.request;
  const final = new Set(table.dataset.final.split(" "));
  const fields = ["status_code", "status_message", "started_at", "finished_at"];

  function when(iso) {  // as the server writes times: 2026-12-04 10:00:05 UTC
    return iso ? iso.replace("T", " ").slice(0, 19) + " UTC" : "";
  }

  function cancelForm(action) {
    const form = document.createElement("form");
    form.className = "inline";
    form.method = "post";
    form.action = "/job-requests/" + encodeURIComponent(id) + "/cancel";
    for (const [name, value] of [["csrf", table.dataset.csrf], ["action", action]]) {
      const input = document.createElement("input");
      Object.assign(input, { type: "hidden", name: name, value: value });
      form.appendChild(input);
    }
    const button = document.createElement("button");
    Object.assign(button, { className: "small", type: "submit", textContent: "Cancel" });
    button.setAttribute("aria-label", "Cancel " + action);
    form.appendChild(button);
    return form;
  }

  function badge(state) {
    const span = document.createElement("span");
    span.className = "badge state-" + state;
    span.textContent = state;
    return span;
  }

  function row(job) {
    let tr = table.querySelector('tr[data-action="' + CSS.escape(job.action) + '"]');
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.action = job.action;
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = job.action;
      tr.appendChild(name);
      for (const field of ["state", ...fields]) {
        const td = document.createElement("td");
        td.dataset.field = field;
        if (field.endsWith("_at")) td.className = "when";
        tr.appendChild(td);
      }
      if (table.dataset.cancel) {
        const td = document.createElement("td");
        td.appendChild(cancelForm(job.action));
        tr.appendChild(td);
      }
      table.tBodies[0].appendChild(tr);
      const none = document.getElementById("no-jobs");
      if (none) none.remove();
    }
    return tr;
  }

  async function refresh() {
    let request;
    try {
      const response = await fetch("/api/job-requests/" + encodeURIComponent(id), { headers: { Accept: "application/json" } });
      if (!response.ok) return setTimeout(refresh, 5000);
      request = await response.json();
    } catch (error) {
      return setTimeout(refresh, 5000);  // the server is away a moment: try again
    }
    for (const job of request.jobs) {
      const tr = row(job);
      const state = tr.querySelector('[data-field="state"]');
      if (state.textContent !== job.state) state.replaceChildren(badge(job.state));
      for (const field of fields) {
        const value = job[field] || "";
        tr.querySelector('[data-field="' + field + '"]').textContent = field.endsWith("_at") ? when(value) : value;
      }
    }
    const status = document.getElementById("status");  // changed in place: it is the aria-live region
    status.className = "badge state-" + request.status;
    status.textContent = request.status;
    document.getElementById("status-message").textContent =
      request.status_message === request.status ? "" : request.status_message;
    for (const job of request.jobs) {  // a job that ended can no longer be cancelled
      if (job.state !== "pending" && job.state !== "running") {
        const form = row(job).querySelector("form");
        if (form) form.remove();
      }
    }
    if (!final.has(request.status)) return setTimeout(refresh, 1000);
    const cancel = document.getElementById("cancel-request");
    if (cancel) cancel.remove();
  }

  if (!final.has(document.getElementById("status").textContent.trim())) setTimeout(refresh, 1000);
})();
