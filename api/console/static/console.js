// Forgeyard console: the little that needs a script (everything else is plain HTML).
// A textarea with data-json is checked as JSON before its form is sent.
document.addEventListener("submit", (event) => {
  for (const area of event.target.querySelectorAll("textarea[data-json]")) {
    const out = event.target.querySelector(".json-problem");
    try {
      const value = JSON.parse(area.value || "{}");
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new Error("expected a JSON object");
      }
      area.setCustomValidity("");
      if (out) out.textContent = "";
    } catch (err) {
      event.preventDefault();
      area.setCustomValidity(err.message);
      if (out) out.textContent = `Not valid: ${err.message}`;
      area.reportValidity();
    }
  }
});
document.addEventListener("input", (event) => {
  if (event.target.matches("textarea[data-json]")) event.target.setCustomValidity("");
});
