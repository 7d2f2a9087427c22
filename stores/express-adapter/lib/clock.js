'use strict';
// The client clock. Stores that decide expiry in Node read `Date`; the harness moves time by
// sending `clock` messages, so `Date` is replaced by one that shows the harness's time while a
// time is set. Timers (setTimeout, setInterval) are never faked: only `Date`.

const RealDate = Date;
let fixed = null; // milliseconds since the epoch, or null for the real time

function now() {
  return fixed === null ? RealDate.now() : fixed;
}

function FakeDate(...args) {
  if (!new.target) {
    // `Date()` called as a function returns the current time as a string.
    return new RealDate(now()).toString();
  }
  return Reflect.construct(RealDate, args.length === 0 ? [now()] : args, new.target);
}
FakeDate.prototype = RealDate.prototype;
FakeDate.now = now;
FakeDate.parse = RealDate.parse;
FakeDate.UTC = RealDate.UTC;
Object.defineProperty(FakeDate, 'name', { value: 'Date' });

let installed = false;

/** Replaces the global `Date` (once). Until `set` is called it shows the real time. */
function install() {
  if (!installed) {
    globalThis.Date = FakeDate;
    installed = true;
  }
}

/** Sets the client clock to an ISO-8601 time, or back to the real time with `null`. */
function set(time) {
  if (time === null) {
    fixed = null;
    return;
  }
  const ms = RealDate.parse(time);
  if (Number.isNaN(ms)) {
    throw Object.assign(new Error(`clock: \`${time}\` is not an ISO-8601 time`), { sessionspecKind: 'invalid' });
  }
  install();
  fixed = ms;
}

module.exports = { install, set, now, RealDate };
