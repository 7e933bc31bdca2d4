import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "src/bindings/"] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      // Payload text must never become markup.
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "Render payload text with textContent." },
        { property: "outerHTML", message: "Render payload text with textContent." },
      ],
    },
  },
);
