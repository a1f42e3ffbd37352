//! `KeyboardEvent.code` values to RDP scancodes (PC/AT set 1, as Windows and FreeRDP send them).
//!
//! `code` names a physical key whatever the local layout, and RDP sends physical keys too:
//! the server applies its own layout. Pause is special (it has no scancode of its own and is
//! sent as a sequence); [`crate::Session::key`] handles it.

/// The scancode and whether it carries the E0 ("extended") prefix, or `None` for a code this
/// table does not know (or a key with no set-1 scancode, like `Fn`).
pub fn scancode(code: &str) -> Option<(u8, bool)> {
    let plain = |code: u8| Some((code, false));
    let extended = |code: u8| Some((code, true));
    match code {
        // Row by row, left to right, as on a PC-105 keyboard.
        "Escape" => plain(0x01),
        "F1" => plain(0x3B),
        "F2" => plain(0x3C),
        "F3" => plain(0x3D),
        "F4" => plain(0x3E),
        "F5" => plain(0x3F),
        "F6" => plain(0x40),
        "F7" => plain(0x41),
        "F8" => plain(0x42),
        "F9" => plain(0x43),
        "F10" => plain(0x44),
        "F11" => plain(0x57),
        "F12" => plain(0x58),
        "F13" => plain(0x64),
        "F14" => plain(0x65),
        "F15" => plain(0x66),
        "F16" => plain(0x67),
        "F17" => plain(0x68),
        "F18" => plain(0x69),
        "F19" => plain(0x6A),
        "F20" => plain(0x6B),
        "F21" => plain(0x6C),
        "F22" => plain(0x6D),
        "F23" => plain(0x6E),
        "F24" => plain(0x76),
        "PrintScreen" => extended(0x37),
        "ScrollLock" => plain(0x46),
        // Sent as a sequence by `Session::key`; this is FreeRDP's stand-in (Ctrl+Break).
        "Pause" => extended(0x46),

        "Backquote" => plain(0x29),
        "Digit1" => plain(0x02),
        "Digit2" => plain(0x03),
        "Digit3" => plain(0x04),
        "Digit4" => plain(0x05),
        "Digit5" => plain(0x06),
        "Digit6" => plain(0x07),
        "Digit7" => plain(0x08),
        "Digit8" => plain(0x09),
        "Digit9" => plain(0x0A),
        "Digit0" => plain(0x0B),
        "Minus" => plain(0x0C),
        "Equal" => plain(0x0D),
        "IntlYen" => plain(0x7D),
        "Backspace" => plain(0x0E),

        "Tab" => plain(0x0F),
        "KeyQ" => plain(0x10),
        "KeyW" => plain(0x11),
        "KeyE" => plain(0x12),
        "KeyR" => plain(0x13),
        "KeyT" => plain(0x14),
        "KeyY" => plain(0x15),
        "KeyU" => plain(0x16),
        "KeyI" => plain(0x17),
        "KeyO" => plain(0x18),
        "KeyP" => plain(0x19),
        "BracketLeft" => plain(0x1A),
        "BracketRight" => plain(0x1B),
        "Backslash" => plain(0x2B),
        "Enter" => plain(0x1C),

        "CapsLock" => plain(0x3A),
        "KeyA" => plain(0x1E),
        "KeyS" => plain(0x1F),
        "KeyD" => plain(0x20),
        "KeyF" => plain(0x21),
        "KeyG" => plain(0x22),
        "KeyH" => plain(0x23),
        "KeyJ" => plain(0x24),
        "KeyK" => plain(0x25),
        "KeyL" => plain(0x26),
        "Semicolon" => plain(0x27),
        "Quote" => plain(0x28),

        "ShiftLeft" => plain(0x2A),
        "IntlBackslash" => plain(0x56),
        "KeyZ" => plain(0x2C),
        "KeyX" => plain(0x2D),
        "KeyC" => plain(0x2E),
        "KeyV" => plain(0x2F),
        "KeyB" => plain(0x30),
        "KeyN" => plain(0x31),
        "KeyM" => plain(0x32),
        "Comma" => plain(0x33),
        "Period" => plain(0x34),
        "Slash" => plain(0x35),
        "IntlRo" => plain(0x73),
        "ShiftRight" => plain(0x36),

        "ControlLeft" => plain(0x1D),
        // "OSLeft"/"OSRight" are older Firefox names for the Windows keys.
        "MetaLeft" | "OSLeft" => extended(0x5B),
        "AltLeft" => plain(0x38),
        "NonConvert" => plain(0x7B),
        "Space" => plain(0x39),
        "Convert" => plain(0x79),
        "KanaMode" => plain(0x70),
        "AltRight" => extended(0x38),
        "MetaRight" | "OSRight" => extended(0x5C),
        "ContextMenu" => extended(0x5D),
        "ControlRight" => extended(0x1D),

        // Korean keyboards: Hangul/English and Hanja.
        "Lang1" => plain(0x72),
        "Lang2" => plain(0x71),
        // Japanese keyboards: Katakana, Hiragana, Zenkaku/Hankaku.
        "Lang3" => plain(0x78),
        "Lang4" => plain(0x77),

        "Insert" => extended(0x52),
        "Delete" => extended(0x53),
        "Home" => extended(0x47),
        "End" => extended(0x4F),
        "PageUp" => extended(0x49),
        "PageDown" => extended(0x51),
        "ArrowUp" => extended(0x48),
        "ArrowLeft" => extended(0x4B),
        "ArrowDown" => extended(0x50),
        "ArrowRight" => extended(0x4D),

        "NumLock" => plain(0x45),
        "NumpadDivide" => extended(0x35),
        "NumpadMultiply" => plain(0x37),
        "NumpadSubtract" => plain(0x4A),
        "Numpad7" => plain(0x47),
        "Numpad8" => plain(0x48),
        "Numpad9" => plain(0x49),
        "NumpadAdd" => plain(0x4E),
        "Numpad4" => plain(0x4B),
        "Numpad5" => plain(0x4C),
        "Numpad6" => plain(0x4D),
        "Numpad1" => plain(0x4F),
        "Numpad2" => plain(0x50),
        "Numpad3" => plain(0x51),
        "NumpadEnter" => extended(0x1C),
        "Numpad0" => plain(0x52),
        "NumpadDecimal" => plain(0x53),
        "NumpadEqual" => plain(0x59),
        "NumpadComma" => plain(0x7E),

        // Media, browser and system keys.
        "MediaTrackPrevious" => extended(0x10),
        "MediaTrackNext" => extended(0x19),
        "AudioVolumeMute" | "VolumeMute" => extended(0x20),
        "LaunchApp2" => extended(0x21),
        "MediaPlayPause" => extended(0x22),
        "MediaStop" => extended(0x24),
        "AudioVolumeDown" | "VolumeDown" => extended(0x2E),
        "AudioVolumeUp" | "VolumeUp" => extended(0x30),
        "BrowserHome" => extended(0x32),
        "Power" => extended(0x5E),
        "Sleep" => extended(0x5F),
        "WakeUp" => extended(0x63),
        "BrowserSearch" => extended(0x65),
        "BrowserFavorites" => extended(0x66),
        "BrowserRefresh" => extended(0x67),
        "BrowserStop" => extended(0x68),
        "BrowserForward" => extended(0x69),
        "BrowserBack" => extended(0x6A),
        "LaunchApp1" => extended(0x6B),
        "LaunchMail" => extended(0x6C),
        "MediaSelect" | "LaunchMediaPlayer" => extended(0x6D),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn representative_keys() {
        let table = [
            ("KeyA", Some((0x1E, false))),
            ("KeyZ", Some((0x2C, false))),
            ("Digit1", Some((0x02, false))),
            ("Digit0", Some((0x0B, false))),
            ("Enter", Some((0x1C, false))),
            ("NumpadEnter", Some((0x1C, true))),
            ("NumpadDivide", Some((0x35, true))),
            ("Slash", Some((0x35, false))),
            ("ArrowUp", Some((0x48, true))),
            ("Numpad8", Some((0x48, false))),
            ("MetaLeft", Some((0x5B, true))),
            ("MetaRight", Some((0x5C, true))),
            ("ControlLeft", Some((0x1D, false))),
            ("ControlRight", Some((0x1D, true))),
            ("AltRight", Some((0x38, true))),
            ("ShiftRight", Some((0x36, false))),
            ("IntlBackslash", Some((0x56, false))),
            ("IntlRo", Some((0x73, false))),
            ("IntlYen", Some((0x7D, false))),
            ("Backquote", Some((0x29, false))),
            ("F1", Some((0x3B, false))),
            ("F12", Some((0x58, false))),
            ("F24", Some((0x76, false))),
            ("PrintScreen", Some((0x37, true))),
            ("Delete", Some((0x53, true))),
            ("NumpadDecimal", Some((0x53, false))),
            ("NumLock", Some((0x45, false))),
            ("ContextMenu", Some((0x5D, true))),
            ("AudioVolumeUp", Some((0x30, true))),
            ("Fn", None),
            ("", None),
            ("keya", None),
        ];
        for (code, expected) in table {
            assert_eq!(scancode(code), expected, "{code}");
        }
    }

    #[test]
    fn every_pc105_key_is_known() {
        let letters = ('A'..='Z').map(|c| format!("Key{c}"));
        let digits = ('0'..='9').map(|c| format!("Digit{c}"));
        let numpad = ('0'..='9').map(|c| format!("Numpad{c}"));
        let functions = (1..=24).map(|n| format!("F{n}"));
        let named = [
            "Backquote",
            "Minus",
            "Equal",
            "BracketLeft",
            "BracketRight",
            "Backslash",
            "IntlBackslash",
            "Semicolon",
            "Quote",
            "Comma",
            "Period",
            "Slash",
            "IntlRo",
            "IntlYen",
            "Escape",
            "Tab",
            "CapsLock",
            "ShiftLeft",
            "ShiftRight",
            "ControlLeft",
            "ControlRight",
            "AltLeft",
            "AltRight",
            "MetaLeft",
            "MetaRight",
            "ContextMenu",
            "Space",
            "Enter",
            "Backspace",
            "Insert",
            "Delete",
            "Home",
            "End",
            "PageUp",
            "PageDown",
            "ArrowUp",
            "ArrowDown",
            "ArrowLeft",
            "ArrowRight",
            "NumLock",
            "NumpadDivide",
            "NumpadMultiply",
            "NumpadSubtract",
            "NumpadAdd",
            "NumpadEnter",
            "NumpadDecimal",
            "PrintScreen",
            "ScrollLock",
            "Pause",
            "Lang1",
            "Lang2",
            "KanaMode",
            "Convert",
            "NonConvert",
        ]
        .map(str::to_owned);
        let all: Vec<String> = letters
            .chain(digits)
            .chain(numpad)
            .chain(functions)
            .chain(named)
            .collect();
        let mut seen = std::collections::HashMap::new();
        for code in &all {
            let key = scancode(code).unwrap_or_else(|| panic!("{code} is missing"));
            if let Some(other) = seen.insert(key, code) {
                panic!("{code} and {other} share {key:?}");
            }
        }
    }
}
