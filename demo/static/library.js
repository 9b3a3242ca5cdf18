// The photo library's list: a click or the arrow keys select a photo ('select'), Enter or Space
// shows it on the map ('locate'). The selection is kept here, so the list stays highlighted
// when the app re-renders it; the map announces its own pin clicks with a 'jaxgeo-select'
// window event. Run by gr.HTML's js_on_load (`element`, `trigger`, `watch`).

const list = element.querySelector('.jg-library');
let selected = -1;

function items() { return Array.from(list.querySelectorAll('.jg-item')); }

function highlight(index, scroll = true) {
  selected = index;
  items().forEach(item => {
    const on = Number(item.dataset.index) === index;
    item.classList.toggle('jg-selected', on);
    item.setAttribute('aria-selected', on ? 'true' : 'false');
    if (on && scroll) item.scrollIntoView({ block: 'nearest' });
  });
  list.dataset.selected = String(index);
}

function choose(index) {
  const count = items().length;
  if (!count) return;
  index = Math.max(0, Math.min(count - 1, index));
  if (index === selected) return;
  highlight(index);
  trigger('select', { index });
}

list.addEventListener('click', e => {
  const item = e.target.closest('.jg-item');
  if (!item) return;
  list.focus({ preventScroll: true });
  const index = Number(item.dataset.index);
  if (index === selected) trigger('select', { index }); else choose(index);
});
list.addEventListener('keydown', e => {
  if (e.key === 'ArrowDown' || e.key === 'ArrowRight') choose(selected + 1);
  else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') choose(selected - 1);
  else if (e.key === 'Home') choose(0);
  else if (e.key === 'End') choose(items().length - 1);
  else if ((e.key === 'Enter' || e.key === ' ') && selected >= 0) {
    trigger('locate', { index: selected });
  }
  else return;
  e.preventDefault();
});
window.addEventListener('jaxgeo-select', e => highlight(e.detail.index));
watch('value', () => {
  if (!items().length) selected = -1;
  highlight(selected, false);
});

// Gradio refuses a file over the upload limit in the browser, before the app sees it, with
// "File(s) exceed the maximum allowed size of 25.0 Mb" ("Mb" reads as megabits). Its message
// is reworded where it appears, in the app's units: "... the upload limit of 25 MB".
const tooBig = /exceed the maximum allowed size of ([\d.]+) Mb/;
function reword(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const found = node.nodeValue.match(tooBig);
    if (found) {
      node.nodeValue = node.nodeValue.replace(
        tooBig, `exceed the upload limit of ${Math.round(parseFloat(found[1]))} MB`);
    }
  }
}
new MutationObserver(records => records.forEach(record => record.addedNodes.forEach(
  node => reword(node.nodeType === Node.TEXT_NODE ? node.parentNode : node))))
  .observe(document.body, { childList: true, subtree: true });
