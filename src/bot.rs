//! Bots: every chat has one, and it answers each stored user message.
//!
//! The answer to the n-th stored user message (since start or reset) has its
//! delay, its line and its idempotency key drawn from `(seed, n)`, so a bot
//! never shifts a request's faults and a seed replays the same answers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::chaos::Delay;
use crate::model::{Chat, Message};
use crate::seeded::{rng_at, uuid_from, Purpose};

/// The built-in answers of the default bot, written for this crate.
pub const DEFAULT_LINES: &[&str] = &[
    "Got it — thanks!",
    "Interesting… tell me more?",
    "I’ll get back to you on that.",
    "Sounds good to me 👍",
    "Hmm, let me think about it for a second.",
    "Ha! That’s a good one.",
    "Noted. I’ve written it on the back of my hand, which is basically a database.",
    "Could you say that another way? My coffee hasn’t kicked in yet ☕",
    "I was just about to ask you the same thing.",
    "That makes a surprising amount of sense.",
    "Sure thing.",
    "Wait, really?!",
    "Let’s do it 🚀",
    "I’m not sure I follow, but I’m nodding enthusiastically.",
    "Thanks for letting me know.",
    "On it!",
    "My cat walked across the keyboard and agrees: “sdfghjk”.",
    "I tried to be spontaneous once, but I had to schedule it first.",
    "Give me five minutes — a real five, not a “developer five”.",
    "Plot twist: I already did it yesterday.",
    "The printer heard you and is now refusing to cooperate 🖨️",
    "Counterpoint: snacks.",
    "If it compiles on the first try, something is definitely wrong.",
    "I’d answer faster, but my hamster is on a break 🐹",
    "Roger that. Over and out… actually, not out, I’m still here.",
    "Let me check with the committee (it’s me, I’m the committee).",
    "That’s the best idea I’ve heard since lunch.",
    "Bold move. I respect it.",
    "Adding it to my list of things to overthink tonight.",
    "Yes! Wait, what was the question?",
    "I’ve consulted the stars ✨ and they said “maybe”.",
    "Deal. Pinky promise 🤙",
    "Absolutely — unless it involves Mondays.",
    "I’m writing this down in very important ink.",
    "Can we circle back after I find my other sock?",
    "Totally. 100%. Well, 97% — let’s be honest.",
    "You had me at “hello” 👋",
    "That reminds me: I need to water the plants 🌱",
    "Loading witty reply… please wait… ⏳",
    "Good point. Annoyingly good, actually.",
];

/// A user-supplied answer function: given the chat and the user's message,
/// the bot's answer, or `None` to stay quiet.
pub type BotFn = dyn Fn(&Chat, &Message) -> Option<String> + Send + Sync;

/// What a chat's bot says.
///
/// ```
/// use mock_chat_server::config::BotBehavior;
///
/// let shouting = BotBehavior::custom(|_chat, msg| Some(msg.text.to_uppercase()));
/// # let _ = shouting;
/// ```
#[derive(Clone, Default)]
pub enum BotBehavior {
    /// A line from [`DEFAULT_LINES`], chosen by the seeded RNG (the default).
    #[default]
    Lines,
    /// Answers with the user's own text.
    Echo,
    /// Never answers.
    Silent,
    /// Answers with whatever the closure returns.
    Custom(Arc<BotFn>),
}

impl BotBehavior {
    /// A bot driven by a closure.
    pub fn custom(f: impl Fn(&Chat, &Message) -> Option<String> + Send + Sync + 'static) -> Self {
        BotBehavior::Custom(Arc::new(f))
    }

    /// The answer to `msg`, given the line index drawn for it.
    pub(crate) fn answer(&self, chat: &Chat, msg: &Message, line: usize) -> Option<String> {
        match self {
            BotBehavior::Lines => Some(DEFAULT_LINES[line % DEFAULT_LINES.len()].to_string()),
            BotBehavior::Echo => Some(msg.text.clone()),
            BotBehavior::Silent => None,
            BotBehavior::Custom(f) => f(chat, msg),
        }
    }

    pub(crate) fn is_silent(&self) -> bool {
        matches!(self, BotBehavior::Silent)
    }
}

impl fmt::Debug for BotBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BotBehavior::Lines => f.write_str("Lines"),
            BotBehavior::Echo => f.write_str("Echo"),
            BotBehavior::Silent => f.write_str("Silent"),
            BotBehavior::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// The reference's bot delay: 3, 4 or 5 seconds, equally likely.
pub(crate) fn default_delay() -> Delay {
    Delay::OneOf(vec![3000, 4000, 5000])
}

/// Everything random about one bot answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BotDraw {
    /// Unscaled delay.
    pub(crate) delay: Duration,
    pub(crate) line: usize,
    pub(crate) key: String,
}

/// The draw for the answer to the n-th stored user message of `epoch`.
pub(crate) fn draw(seed: u64, epoch: u64, n: u64, delay: &Delay) -> BotDraw {
    let mut rng = rng_at(seed, Purpose::Bot as u64, epoch, n);
    let delay = delay.draw(&mut rng);
    let line = rng.gen_range(0..DEFAULT_LINES.len());
    let key = uuid_from(&mut rng).to_string();
    BotDraw { delay, line, key }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_reproducible_and_cover_the_delays() {
        let d = default_delay();
        assert_eq!(draw(1, 0, 5, &d), draw(1, 0, 5, &d));
        assert_ne!(draw(1, 0, 5, &d).key, draw(1, 0, 6, &d).key);
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..200 {
            seen.insert(draw(3, 0, n, &d).delay.as_secs());
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![3, 4, 5]);
    }

    #[test]
    fn the_lines_are_many_short_and_not_all_ascii() {
        assert!(DEFAULT_LINES.len() >= 30);
        assert!(DEFAULT_LINES.iter().all(|l| l.chars().count() <= 140));
        assert!(DEFAULT_LINES.iter().any(|l| !l.is_ascii()));
    }
}
