// services diagnostics.
// TODO(helper): definitions for this group.
export const servicesDiagnostics = [] as const;
