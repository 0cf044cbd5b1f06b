// Run form: offer only the datasets that fit the chosen type. Each option says which types it
// fits (data-types); the server checks again, so without this script every fitting dataset of
// each side is offered and a wrong choice is refused with its reason.
(function () {
  function fit(form) {
    var type = form.querySelector("select[name=type]").value;
    form.querySelectorAll("select[data-fits]").forEach(function (select) {
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value || option.dataset.types === undefined) return;
        var fits = option.dataset.types.split(" ").indexOf(type) !== -1;
        option.hidden = option.disabled = !fits;
        if (!fits && option.selected) select.value = "";
      });
      select.querySelectorAll("optgroup").forEach(function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-run-form]").forEach(function (form) {
      form.querySelector("select[name=type]").addEventListener("change", function () {
        fit(form);
      });
      fit(form);
    });
  });
})();
