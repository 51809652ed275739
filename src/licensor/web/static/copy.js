// "Copy" beside a code shown in full. Without this script the code is still one click
// from selected (CSS user-select: all); with it, the button copies and says so. A file
// of its own because the pages' Content-Security-Policy allows no inline script.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  const status = button.parentElement.querySelector(".copy-status");
  if (!source || !status || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      status.textContent = button.dataset.copied;
    } catch {
      window.getSelection().selectAllChildren(source);
      status.textContent = button.dataset.failed;
    }
  });
}
