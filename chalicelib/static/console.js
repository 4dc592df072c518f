/* Permesso console: progressive enhancement only. Every flow works without this file (plain
   forms and pages); with it:
   - a control marked data-dialog (a link, or a submit button of a GET form) shows its
     confirmation page's [data-dialog-content] block in a modal <dialog> instead of leaving the page;
   - an element marked data-poll="URL" is refreshed from that URL (the same page, re-rendered
     by the server) until the server answers without data-poll: a job's progress bar;
     (a page marked data-reload-when-done is reloaded when the work is done);
   - a checkbox marked data-select-all ticks every [data-row-select] checkbox of its form.
   No framework, no build step, no inline script (the CSP allows this file only). */
(function () {
  "use strict";

  var POLL_MS = 1500;

  function fetchDocument(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(function (response) {
      if (!response.ok && response.status !== 400 && response.status !== 409) {
        throw new Error("HTTP " + response.status);
      }
      return response.text().then(function (text) {
        return new DOMParser().parseFromString(text, "text/html");
      });
    });
  }

  /* --- dialogs ------------------------------------------------------------------------- */

  function targetOf(control) {
    if (control.tagName === "A") {
      return control.href;
    }
    var form = control.form;
    var data = new FormData(form);
    if (control.name) {
      data.append(control.name, control.value);
    }
    var query = new URLSearchParams(data).toString();
    var action = form.getAttribute("action") || window.location.pathname;
    return action + (action.indexOf("?") === -1 ? "?" : "&") + query;
  }

  function closeDialog(dialog, opener) {
    var main = document.getElementById("main");
    if (main) {
      main.removeAttribute("aria-hidden");
    }
    dialog.remove();
    if (opener && document.body.contains(opener)) {
      opener.focus();
    }
  }

  function openDialog(control) {
    var url = targetOf(control);
    fetchDocument(url).then(function (doc) {
      var content = doc.querySelector("[data-dialog-content]");
      if (!content) {
        window.location.assign(url); /* not a confirmation (e.g. an error page): go there */
        return;
      }
      var dialog = document.createElement("dialog");
      dialog.className = "dialog";
      var block = document.importNode(content, true);
      var heading = block.querySelector("h1");
      if (heading) {
        /* In a dialog over a page, the page keeps its one h1. */
        var h2 = document.createElement("h2");
        h2.id = heading.id;
        h2.textContent = heading.textContent;
        heading.replaceWith(h2);
        dialog.setAttribute("aria-labelledby", h2.id);
      }
      block.removeAttribute("id");
      /* The dialog carries the name; the block inside is no second landmark of that name. */
      block.removeAttribute("aria-labelledby");
      dialog.appendChild(block);
      document.body.appendChild(dialog);
      var cancel = dialog.querySelector("[data-dialog-cancel]");
      if (cancel) {
        cancel.addEventListener("click", function (event) {
          event.preventDefault();
          dialog.close();
        });
      }
      dialog.addEventListener("close", function () {
        closeDialog(dialog, control);
      });
      var main = document.getElementById("main");
      if (main) {
        main.setAttribute("aria-hidden", "true"); /* the page behind a modal is not there */
      }
      dialog.showModal();
      var first = dialog.querySelector("input:not([type=hidden]), select, textarea, button");
      if (first) {
        first.focus();
      }
    }).catch(function () {
      window.location.assign(url);
    });
  }

  document.addEventListener("click", function (event) {
    var control = event.target.closest("[data-dialog]");
    if (!control || typeof HTMLDialogElement === "undefined") {
      return;
    }
    event.preventDefault();
    openDialog(control);
  });

  /* --- "select all on this page" ------------------------------------------------------- */

  function rowsOf(box) {
    var scope = box.form || document;
    return Array.prototype.slice.call(scope.querySelectorAll("input[data-row-select]"));
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches("input[data-select-all]")) {
      rowsOf(box).forEach(function (row) {
        row.checked = box.checked;
      });
    } else if (box.matches("input[data-row-select]")) {
      var all = (box.form || document).querySelector("input[data-select-all]");
      if (all) {
        all.checked = rowsOf(all).every(function (row) {
          return row.checked;
        });
      }
    }
  });

  /* --- progress polling ---------------------------------------------------------------- */

  function poll(element) {
    var url = element.getAttribute("data-poll");
    window.setTimeout(function () {
      fetchDocument(url).then(function (doc) {
        var fresh = doc.getElementById(element.id);
        if (!fresh) {
          return;
        }
        var replacement = document.importNode(fresh, true);
        element.replaceWith(replacement);
        if (replacement.hasAttribute("data-poll")) {
          poll(replacement);
        } else {
          /* Finished: the rest of the page (the result) may have changed too; a page that
             shows more once the work is done (a campaign's report) is loaded again. */
          if (document.querySelector("[data-reload-when-done]")) {
            window.location.reload();
            return;
          }
          /* Finished: the rest of the page (the result) may have changed too. */
          var result = doc.getElementById("job-result");
          var current = document.getElementById("job-result");
          if (result && current) {
            current.replaceWith(document.importNode(result, true));
          }
        }
      }).catch(function () {
        poll(element); /* a dropped poll is tried again; the page itself stays correct */
      });
    }, POLL_MS);
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-poll]"), poll);
})();
