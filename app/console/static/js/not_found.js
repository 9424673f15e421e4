// The console's 404 page: nothing to load; the page is ready as served.
import { ready } from './dom.js';

export function start() { ready(); }
