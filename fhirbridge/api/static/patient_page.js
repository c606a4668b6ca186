// fhirbridge patient page: tooltips from the SVG <title>s, and a finding highlights its drugs,
// overlaps and screens on the timeline. Plain JavaScript; nothing is loaded from elsewhere.
(function () {
  "use strict";
  var tip = null;

  // The SVG <title>s are the tooltips without script; with it, they move to data-tip (and
  // aria-label), so the browser's own tooltip does not show on top of this one.
  function adoptTitles(svg) {
    svg.querySelectorAll("title").forEach(function (title) {
      var owner = title.parentNode;
      owner.setAttribute("data-tip", title.textContent);
      owner.setAttribute("aria-label", title.textContent);
      owner.removeChild(title);
    });
  }

  function showTip(event) {
    var owner = event.target.closest ? event.target.closest("[data-tip]") : null;
    if (!owner) { hideTip(); return; }
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "tip";
      tip.setAttribute("role", "tooltip");
      document.body.appendChild(tip);
    }
    tip.textContent = owner.getAttribute("data-tip");
    tip.style.left = (event.clientX + 12) + "px";
    tip.style.top = (event.clientY + 12) + "px";
    tip.hidden = false;
  }

  function hideTip() {
    if (tip) { tip.hidden = true; }
  }

  function marks(key) {
    return document.querySelectorAll(
      '#timeline [data-findings~="' + key + '"], #timeline .overlap[data-finding="' + key + '"]'
    );
  }

  function highlight(item, on) {
    item.classList.toggle("hl", on);
    marks(item.getAttribute("data-key")).forEach(function (el) { el.classList.toggle("hl", on); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var svg = document.getElementById("timeline");
    if (svg) {
      adoptTitles(svg);
      svg.addEventListener("mousemove", showTip);
      svg.addEventListener("mouseleave", hideTip);
    }
    document.querySelectorAll(".finding").forEach(function (item) {
      ["mouseenter", "focus"].forEach(function (name) {
        item.addEventListener(name, function () { highlight(item, true); });
      });
      ["mouseleave", "blur"].forEach(function (name) {
        item.addEventListener(name, function () { highlight(item, false); });
      });
    });
  });
})();
