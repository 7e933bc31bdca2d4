// Text that arrived in a webhook is untrusted. Bidi controls in it (U+202E and friends) can
// reorder what is drawn around them, so a title could make "failed" read as "passed" or move
// a name across a column. Views isolate such text (<bdi>, unicode-bidi) and show each control
// as a visible marker instead of obeying it.

/** A run of plain text, or one bidi control shown as `⟨U+202E⟩` (with its name). */
export interface TextPiece {
  text: string;
  /** The control's name for a tooltip; null for plain text. */
  control: string | null;
}

// Unicode's Bidi_Control set: the marks, embeddings, overrides and isolates.
const CONTROL_NAMES: Record<string, string> = {
  "\u061C": "arabic letter mark",
  "\u200E": "left-to-right mark",
  "\u200F": "right-to-left mark",
  "\u202A": "left-to-right embedding",
  "\u202B": "right-to-left embedding",
  "\u202C": "pop directional formatting",
  "\u202D": "left-to-right override",
  "\u202E": "right-to-left override",
  "\u2066": "left-to-right isolate",
  "\u2067": "right-to-left isolate",
  "\u2068": "first strong isolate",
  "\u2069": "pop directional isolate",
};
const CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

function marker(control: string): string {
  return `⟨U+${control.codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0")}⟩`;
}

export function visibleControls(text: string): TextPiece[] {
  const pieces: TextPiece[] = [];
  let at = 0;
  for (const m of text.matchAll(CONTROLS)) {
    if (m.index > at) pieces.push({ text: text.slice(at, m.index), control: null });
    pieces.push({ text: marker(m[0]), control: CONTROL_NAMES[m[0]] });
    at = m.index + m[0].length;
  }
  if (at < text.length) pieces.push({ text: text.slice(at), control: null });
  return pieces;
}

/** The same as one string, for places that cannot hold markup: attributes, options, dialogs. */
export function withVisibleControls(text: string): string {
  return text.replace(CONTROLS, marker);
}
