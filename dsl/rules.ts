export function checkRules(_m: any): any[] { return []; }
