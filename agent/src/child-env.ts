// The one fixed environment every program the agent or the root helper starts gets: a known PATH,
// a UTF-8 C locale, no pager and no colours (so output is plain, complete and parseable). Nothing
// from the caller's or the service's environment is passed on.
export const CHILD_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
  LC_ALL: "C.UTF-8",
  SYSTEMD_PAGER: "",
  SYSTEMD_COLORS: "0",
  SYSTEMD_LESS: "",
  PAGER: "cat",
  TERM: "dumb",
});
