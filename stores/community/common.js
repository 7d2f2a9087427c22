'use strict';
// What every factory file here needs and a store author would write the same way: refusing
// options a store cannot honour, namespaces checked before they reach a file name or a table,
// and the installed version of a package (reports show it).

/** Fails with `unsupported` for any option: these factories declare no option capability. */
function noOptions(options, store) {
  const given = Object.keys(options || {});
  if (given.length > 0) {
    throw Object.assign(new Error(`${store} is run without options; asked for ${given.join(', ')}`), {
      sessionspecKind: 'unsupported',
    });
  }
}

/** The namespace, checked (`[a-z][a-z0-9_]*`) before it names a file, table or key prefix. */
function checked(namespace) {
  if (!/^[a-z][a-z0-9_]{0,47}$/.test(namespace)) {
    throw Object.assign(new Error(`namespace \`${namespace}\` is not [a-z][a-z0-9_]*`), { sessionspecKind: 'invalid' });
  }
  return namespace;
}

/** The version of an installed package. */
function versionOf(name) {
  return require(`${name}/package.json`).version;
}

/** A backend URL from the environment sessionspec sets, or an error naming the variable. */
function url(variable) {
  const value = process.env[variable];
  if (!value) {
    throw Object.assign(new Error(`${variable} is not set: run with --backend, a URL flag, or set it`), {
      sessionspecKind: 'backend',
    });
  }
  return value;
}

/**
 * The server URL for this file's own work (the server's version, dropping a namespace):
 * `SESSIONSPEC_<KIND>_ADMIN_URL` when sessionspec put a fault proxy in front of the server for
 * the store (`variable` then names the proxy), else `variable` itself.
 */
function adminUrl(variable) {
  return process.env[variable.replace(/_URL$/, '_ADMIN_URL')] || url(variable);
}

module.exports = { noOptions, checked, versionOf, url, adminUrl };
