// Keyset pages as the API gives them (nextCursor): the cursors seen are kept so Previous goes back.
import { $, ready } from './dom.js';

// loadPage(cursor) shows one page and returns its nextCursor (null on the last page), or
// undefined when the page failed (it has shown why); the page buttons and number follow.
export async function keysetPages(loadPage) {
  const cursors = [null];
  let index = 0;
  let next = null;
  async function load() {
    const cursor = await loadPage(cursors[index]);
    if (cursor !== undefined) {
      next = cursor;
      $('#next-page').disabled = !next;
      $('#prev-page').disabled = index === 0;
      $('#page-number').textContent = `Page ${index + 1}`;
    }
    ready();
  }
  $('#next-page').addEventListener('click', () => { cursors[index + 1] = next; index += 1; load(); });
  $('#prev-page').addEventListener('click', () => { index = Math.max(0, index - 1); load(); });
  await load();
}
