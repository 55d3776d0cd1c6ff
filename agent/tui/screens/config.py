"""The configuration screen: a form per section and the raw TOML, validated as you type.

Each problem `tiebreak config check` would report is shown beside the field it names (or under its
section, or in the status line); a TOML syntax error names its line and column. Saving writes the
file atomically and only a configuration that `config check` accepts (a file it names that is
missing yet is a warning). ctrl+t tests the current section: resolvers, directory bind, server and
token, scope.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Checkbox,
    ContentSwitcher,
    Footer,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TextArea,
)
from textual.widgets.option_list import Option

from agent.i18n import t
from agent.tui import document
from agent.tui.base import NavBar, TiebreakScreen, lines_text, plain
from agent.tui.fields import KNOWN, SECTIONS, Field, section

TOML_PANE = "toml"


class FormPane(VerticalScroll, can_focus=False):
    """A section's fields: the keyboard goes from field to field, the pane follows."""


class ConfigScreen(TiebreakScreen):
    """Edit, validate, test and save the agent configuration."""

    MODE = "config"
    AUTO_FOCUS = "#sections"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "save", priority=True),
        Binding("ctrl+t", "test", "test", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.saved_text: str | None = None
        self.loaded = False
        self.validation = document.Validation()
        self.hidden: dict[str, str] = {}
        self.current = SECTIONS[0].name
        self._form_stale = True
        self._editor_stale = True
        self._fields = {field.ident: field for s in SECTIONS for field in s.fields}
        self._removed_at: dict[tuple[str, str], int | None] = {}
        """Where an emptied field's key was, to put it back there."""

    @property
    def path(self) -> Path:
        """The configuration file being edited."""
        return self.state.config_path

    @property
    def modified(self) -> bool:
        """Whether the text differs from the file."""
        return self.loaded and self.text != self.saved_text

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Sections on the left, the selected section's form (or the TOML) on the right."""
        yield NavBar(self.MODE)
        with Horizontal(id="config-body"):
            options = [Option(s.label, id=s.name) for s in SECTIONS]
            options.append(Option(t("Fichier TOML", "TOML file"), id=TOML_PANE))
            with Vertical(id="sections-column"):
                yield OptionList(*options, id="sections")
                yield Static(
                    t(
                        "↑↓ section\nTab champ suivant\nMaj+Tab précédent",
                        "↑↓ section\nTab next field\nShift+Tab previous",
                    ),
                    id="config-help",
                )
            with ContentSwitcher(initial=f"form-{SECTIONS[0].name}", id="forms"):
                for entry in SECTIONS:
                    with FormPane(id=f"form-{entry.name}", classes="form"):
                        for field in entry.fields:
                            with Horizontal(classes="field"):
                                yield Label(field.label, classes="field-label")
                                yield self._widget(field)
                            yield Static(
                                "", id=f"error-{field.section}-{field.key}", classes="field-error"
                            )
                        yield Static("", id=f"problems-{entry.name}", classes="section-errors")
                        hint = (
                            plain(
                                t("ctrl+t : tester cette section", "ctrl+t: test this section"),
                                "dim",
                            )
                            if entry.testable
                            else ""
                        )
                        yield Static(hint, id=f"test-{entry.name}", classes="test-result")
                with Vertical(id=f"form-{TOML_PANE}"):
                    yield TextArea(id="toml-editor", show_line_numbers=True)
                    yield Static("", id="toml-error", classes="field-error")
        yield Static("", id="config-status")
        yield Footer()

    @staticmethod
    def _widget(field: Field) -> Input | Checkbox | Select[str]:
        if field.kind == "bool":
            return Checkbox("", bool(field.default), id=field.ident, compact=True)
        if field.kind == "choice":
            return Select(
                [(choice, choice) for choice in field.choices],
                value=field.default,
                allow_blank=False,
                id=field.ident,
                compact=True,
            )
        return Input(placeholder=field.placeholder, id=field.ident, compact=True)

    def on_mount(self) -> None:
        """Read the configuration file (in a worker: it is disk work)."""
        self.query_one("#sections", OptionList).highlighted = 0
        self._show_status()
        self._read_file()

    # -- reading and validating ------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="config-read")
    def _read_file(self) -> None:
        from agent.config import untrusted

        path = self.path
        refused = untrusted(path)
        if refused:
            self.app.call_from_thread(self._refuse, "; ".join(refused))
            return
        try:
            text = path.read_text(encoding="utf-8")
            saved: str | None = text
        except FileNotFoundError:
            from importlib.resources import files

            text = files("agent").joinpath("tiebreak.example.toml").read_text(encoding="utf-8")
            saved = None
        except (OSError, UnicodeDecodeError) as exc:
            self.app.call_from_thread(self._refuse, f"{path}: {exc}")
            return
        self.app.call_from_thread(self.load, text, saved)

    def _refuse(self, reason: str) -> None:
        self.query_one("#config-status", Static).update(
            plain(
                t(f"Configuration illisible : {reason}", f"Unreadable configuration: {reason}"),
                "bold red",
            )
        )

    def load(self, text: str, saved: str | None) -> None:
        """Show a configuration text (`saved`: what the file holds, None if it does not exist)."""
        self.loaded = True
        self.saved_text = saved
        self._apply(text, source="file")
        if saved is None:
            self.notify(
                t(
                    f"{self.path} n'existe pas : l'exemple commenté est chargé, "
                    "ctrl+s l'enregistre",
                    f"{self.path} does not exist: the commented example is loaded, ctrl+s saves it",
                ),
                timeout=8,
            )

    def _apply(self, text: str, source: str) -> None:
        """Take a new text: validate it and show every problem where it belongs."""
        self.text = text
        self.validation = document.validate(text, self.path, set(KNOWN))
        self.state.config = self.validation.config
        if source != "form":
            self._form_stale = True
            self._removed_at.clear()
        if source != "editor":
            self._editor_stale = True
        self._show_problems()
        if self.current == TOML_PANE:
            self._refresh_editor()
        else:
            self._refresh_form()

    def _show_problems(self) -> None:
        validation = self.validation
        for field in self._fields.values():
            messages = validation.fields.get((field.section, field.key), [])
            error = self.query_one(f"#error-{field.section}-{field.key}", Static)
            error.update(lines_text((message, "red") for message in messages))
            error.display = bool(messages)
        for entry in SECTIONS:
            problems = list(validation.sections.get(entry.name, []))
            if validation.toml_error is not None:
                problems = [
                    validation.toml_error.describe()
                    + t(" — corrigez-le dans « Fichier TOML »", " — fix it in 'TOML file'")
                ]
            widget = self.query_one(f"#problems-{entry.name}", Static)
            widget.update(lines_text((problem, "red") for problem in problems))
            widget.display = bool(problems)
            self.query_one(f"#form-{entry.name}").disabled = validation.toml_error is not None
        sections = self.query_one("#sections", OptionList)
        for index, entry in enumerate(SECTIONS):
            count = validation.count(entry.name)
            prompt = Text(entry.label)
            if count:
                prompt.append(f" ✗{count}", style="bold red")
            sections.replace_option_prompt_at_index(index, prompt)
        toml_prompt = Text(t("Fichier TOML", "TOML file"))
        if validation.toml_error is not None:
            toml_prompt.append(" ✗", style="bold red")
        sections.replace_option_prompt_at_index(len(SECTIONS), toml_prompt)
        toml_error = self.query_one("#toml-error", Static)
        toml_error.update(
            plain(validation.toml_error.describe(), "bold red") if validation.toml_error else ""
        )
        toml_error.display = validation.toml_error is not None
        self._show_status()

    def _show_status(self) -> None:
        validation = self.validation
        status = Text(str(self.path), style="bold")
        if not self.loaded:
            status.append(t(" — lecture…", " — reading…"), style="dim")
        elif validation.toml_error is not None:
            status.append(" — " + validation.toml_error.describe(), style="bold red")
        elif validation.config is None:
            count = validation.problems
            status.append(t(f" — {count} problème(s)", f" — {count} problem(s)"), style="bold red")
        else:
            status.append(t(" — valide ✓", " — valid ✓"), style="green")
        if self.modified:
            status.append(t(" — modifiée (ctrl+s)", " — changed (ctrl+s)"), style="yellow")
        for line in [*validation.general, *validation.warnings]:
            status.append("\n")
            status.append_text(plain(line, "yellow"))
        self.query_one("#config-status", Static).update(status)

    # -- the form --------------------------------------------------------------------------------

    def _value(self, field: Field) -> Any:
        data = self.validation.data or {}
        table = data.get(field.section)
        value = table.get(field.key) if isinstance(table, dict) else None
        return field.default if value is None else value

    def _refresh_form(self) -> None:
        if not self._form_stale or self.validation.data is None:
            return
        self._form_stale = False
        for field in self._fields.values():
            value = self._value(field)
            if field.kind == "bool":
                self.query_one(f"#{field.ident}", Checkbox).value = value is True
            elif field.kind == "choice":
                select: Select[str] = self.query_one(f"#{field.ident}", Select)
                if isinstance(value, str) and value in field.choices:
                    select.value = value
            else:
                widget = self.query_one(f"#{field.ident}", Input)
                shown = field.shown(value)
                if field.read(widget.value) != field.read(shown):
                    widget.value = shown

    def _refresh_editor(self) -> None:
        if not self._editor_stale:
            return
        self._editor_stale = False
        masked, self.hidden = document.mask_secrets(self.text)
        editor = self.query_one("#toml-editor", TextArea)
        if editor.text != masked:
            editor.load_text(masked)
        error = self.validation.toml_error
        if error is not None:
            editor.move_cursor((max(0, error.line - 1), max(0, error.column - 1)))

    def _set(self, field: Field, value: Any) -> None:
        """The form changed one field: rewrite its key in the text."""
        if self.validation.data is None:
            return
        current = self._value(field)
        empty: tuple[Any, ...] = ("", None, [])
        if value == current or (current in empty and value in empty and not field.required):
            return
        place = (field.section, field.key)
        if value is None:
            self._removed_at[place] = document.key_line(self.text, *place)
        try:
            text, kept = document.set_key(self.text, *place, value, self._removed_at.get(place))
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        if not kept:
            self.notify(
                t(
                    "disposition du fichier non reconnue : il est réécrit sans ses commentaires",
                    "file layout not recognised: it is rewritten without its comments",
                ),
                severity="warning",
            )
        self._apply(text, source="form")

    @on(Input.Changed, ".field Input")
    def _input_changed(self, event: Input.Changed) -> None:
        """A text field changed."""
        field = self._fields.get(event.input.id or "")
        if field is not None:
            self._set(field, field.read(event.value))

    @on(Checkbox.Changed)
    def _checkbox_changed(self, event: Checkbox.Changed) -> None:
        """A yes/no field changed."""
        field = self._fields.get(event.checkbox.id or "")
        if field is not None:
            self._set(field, event.value)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        """A choice changed."""
        field = self._fields.get(event.select.id or "")
        if field is not None and isinstance(event.value, str):
            self._set(field, event.value)

    @on(TextArea.Changed, "#toml-editor")
    def _editor_changed(self, event: TextArea.Changed) -> None:
        """The raw TOML changed."""
        text = document.unmask_secrets(event.text_area.text, self.hidden)
        if self.loaded and text != self.text:
            self._apply(text, source="editor")

    @on(OptionList.OptionHighlighted, "#sections")
    def _section_chosen(self, event: OptionList.OptionHighlighted) -> None:
        """Show the highlighted section's form, or the TOML."""
        name = event.option.id or SECTIONS[0].name
        self.current = name
        self.query_one("#forms", ContentSwitcher).current = f"form-{name}"
        if name == TOML_PANE:
            self._refresh_editor()
        else:
            self._refresh_form()
        self.refresh_bindings()

    # -- actions ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Test only a section that has a test."""
        if action == "test":
            return True if self.current in {s.name for s in SECTIONS if s.testable} else None
        return True

    def action_save(self) -> None:
        """Write the configuration, atomically, if `config check` would accept it."""
        validation = self.validation
        if not self.loaded:
            return
        if validation.toml_error is not None:
            self.notify(validation.toml_error.describe(), severity="error", timeout=8)
            return
        if validation.config is None:
            self.notify(
                t(
                    f"{validation.problems} problème(s) : corrigez-les avant d'enregistrer",
                    f"{validation.problems} problem(s): fix them before saving",
                ),
                severity="error",
                timeout=8,
            )
            return
        self._write(self.text)

    @work(thread=True, exclusive=True, group="config-write")
    def _write(self, text: str) -> None:
        from agent.atomic import write_atomically

        path = self.path
        try:
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
            write_atomically(path, text.encode("utf-8"), mode=mode)
        except OSError as exc:
            message = t(f"{path} non enregistré : {exc}", f"{path} not saved: {exc}")
            self.app.call_from_thread(self.notify, message, severity="error", timeout=10)
            return
        self.app.call_from_thread(self._saved, text)

    def _saved(self, text: str) -> None:
        self.saved_text = text
        self._show_status()
        self.notify(
            t(f"Configuration enregistrée dans {self.path}", f"Configuration saved to {self.path}")
        )
        for problem in self.validation.files:
            self.notify(problem, severity="warning", timeout=10)

    def action_test(self) -> None:
        """Test the current section (resolver, directory, server, scope)."""
        name = self.current
        if section(name).testable is False:
            return
        config = self.validation.config
        result = self.query_one(f"#test-{name}", Static)
        if config is None:
            result.update(
                plain(
                    t(
                        "corrigez d'abord les erreurs de la configuration",
                        "fix the configuration's errors first",
                    ),
                    "red",
                )
            )
            return
        result.update(plain(t("test en cours…", "testing…"), "yellow"))
        result.scroll_visible(animate=False)
        self._run_test(name, config)

    @work(thread=True, group="config-test")
    def _run_test(self, name: str, config: Any) -> None:
        from agent.tui.checks import run_check

        ok, message = run_check(name, config)
        self.app.call_from_thread(self._tested, name, ok, message)

    def _tested(self, name: str, ok: bool, message: str) -> None:
        mark, style = ("✓ ", "green") if ok else ("✗ ", "bold red")
        lines = (mark + message).split("\n")
        result = self.query_one(f"#test-{name}", Static)
        result.update(lines_text((line, style) for line in lines))
        result.scroll_visible(animate=False)
        self.notify(
            t("test réussi", "test passed") if ok else t("test échoué", "test failed"),
            title=section(name).label,
            severity="information" if ok else "error",
            timeout=4,
        )
