// Upload form: offer only the formats the chosen account takes, and pick its source.
// The server decides (ingest.check_target) and refuses a misfit on the form without this.
(function () {
  "use strict";

  function fit(account, format, source) {
    const chosen = account.selectedOptions[0];
    const takes = chosen ? chosen.dataset.takes : undefined; // exchange, "*" (any), "" (none)
    if (chosen && chosen.dataset.source && source) {
      source.value = chosen.dataset.source;
    }
    for (const option of format.options) {
      const exchange = option.dataset.exchange || "";
      const refused = takes !== undefined && exchange !== "" && takes !== "*" && takes !== exchange;
      option.disabled = refused;
      option.hidden = refused;
    }
    const selected = format.selectedOptions[0];
    if (selected && selected.disabled) {
      const first = Array.from(format.options).find((option) => !option.disabled);
      if (first) format.value = first.value;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const account = document.getElementById("id_account");
    const format = document.getElementById("id_format");
    if (!account || !format) return;
    const source = document.getElementById("id_source");
    account.addEventListener("change", function () { fit(account, format, source); });
    fit(account, format, source);
  });
})();
