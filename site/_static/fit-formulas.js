/* MathJax 3 does not break long formulas over lines (MathJax 2 did). A displayed formula wider
   than the text column is scaled down to fit, once typeset and whenever the window is resized,
   but not below 65 % of its size; one that is wider still scrolls sideways (course.css).
   This file runs before MathJax (which loads deferred) and hooks into its page-ready step. */
(function () {
  "use strict";
  const SMALLEST = 0.65;

  function fit() {
    for (const box of document.querySelectorAll('mjx-container[display="true"]')) {
      box.style.fontSize = "";
      const room = box.clientWidth, need = box.scrollWidth;
      if (room > 0 && need > room + 1) {
        const size = parseFloat(getComputedStyle(box).fontSize);
        box.style.fontSize = (size * Math.max(SMALLEST, room / need)).toFixed(2) + "px";
      }
    }
  }

  window.MathJax = window.MathJax || {};
  window.MathJax.startup = Object.assign({}, window.MathJax.startup, {
    pageReady: () => window.MathJax.startup.defaultPageReady().then(fit),
  });
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(fit, 100);
  });
})();
