//! A small, safe arithmetic language for `expression` prices.
//!
//! ```text
//! expr    := term (("+" | "-") term)*
//! term    := unary (("*" | "/") unary)*
//! unary   := ("-" | "+") unary | primary
//! primary := number | name | name "(" expr ("," expr)* ")" | "(" expr ")"
//! number  := digits ["." digits]
//! name    := word ("." word)*        e.g. usage.api_calls
//! ```
//!
//! Functions: `min(a, b, …)`, `max(a, b, …)`, `ceil(x)`, `floor(x)`, `round(x)` and
//! `round(x, places)` (half away from zero, like all Abacus rounding). There are no loops,
//! assignments or I/O, and a source is bounded in length, size and nesting, so evaluation is
//! cheap and always terminates. Arithmetic is exact decimal; overflow and division by zero are
//! errors. Positions are 1-based character positions in the source.

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// Longest accepted source, in characters.
pub const MAX_CHARS: usize = 1000;
/// Most numbers, names, operators and calls in one expression.
pub const MAX_NODES: usize = 200;
/// Deepest nesting of parentheses, calls and unary signs.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("no value for '{name}' (position {position})")]
    UnknownName { name: String, position: usize },
    #[error("division by zero at position {position}")]
    DivisionByZero { position: usize },
    #[error("the result is out of range at position {position}")]
    Overflow { position: usize },
    #[error("{message} at position {position}")]
    InvalidArgument { position: usize, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Min,
    Max,
    Ceil,
    Floor,
    Round,
}

impl Func {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "min" => Func::Min,
            "max" => Func::Max,
            "ceil" => Func::Ceil,
            "floor" => Func::Floor,
            "round" => Func::Round,
            _ => return None,
        })
    }

    /// Accepted argument counts.
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Min | Func::Max => (1, usize::MAX),
            Func::Ceil | Func::Floor => (1, 1),
            Func::Round => (1, 2),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Number(Decimal),
    Name {
        name: String,
        position: usize,
    },
    Neg {
        operand: Box<Node>,
        position: usize,
    },
    Binary {
        op: BinOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
        position: usize,
    },
    Call {
        func: Func,
        args: Vec<Node>,
        position: usize,
    },
}

/// A parsed expression. Build it with [`Expression::parse`]; it keeps its source for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    source: String,
    root: Node,
}

impl Expression {
    pub fn parse(source: &str) -> Result<Self, ParseError> {
        let chars: Vec<char> = source.chars().collect();
        if chars.len() > MAX_CHARS {
            return Err(ParseError {
                position: MAX_CHARS + 1,
                message: format!("the expression is longer than {MAX_CHARS} characters"),
            });
        }
        let tokens = lex(&chars)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            depth: 0,
            nodes: 0,
            end: chars.len() + 1,
        };
        let root = parser.expr()?;
        match parser.peek() {
            None => Ok(Expression {
                source: source.to_string(),
                root,
            }),
            Some((tok, position)) => Err(ParseError {
                position,
                message: format!("unexpected {}", tok.describe()),
            }),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The names the expression reads, with the position of each use.
    pub fn names(&self) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        collect_names(&self.root, &mut out);
        out
    }

    /// Evaluates with `lookup` supplying the value of each name.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<Decimal>) -> Result<Decimal, EvalError> {
        eval(&self.root, lookup)
    }

    /// Evaluates with the values in a map keyed by name.
    pub fn eval_with(&self, values: &BTreeMap<String, Decimal>) -> Result<Decimal, EvalError> {
        self.eval(&|name| values.get(name).copied())
    }
}

fn collect_names<'a>(node: &'a Node, out: &mut Vec<(&'a str, usize)>) {
    match node {
        Node::Number(_) => {}
        Node::Name { name, position } => out.push((name, *position)),
        Node::Neg { operand, .. } => collect_names(operand, out),
        Node::Binary { lhs, rhs, .. } => {
            collect_names(lhs, out);
            collect_names(rhs, out);
        }
        Node::Call { args, .. } => args.iter().for_each(|a| collect_names(a, out)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Number(Decimal),
    Name(String),
    Plus,
    Minus,
    Star,
    Slash,
    Open,
    Close,
    Comma,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Number(n) => format!("number {n}"),
            Tok::Name(n) => format!("name '{n}'"),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Star => "'*'".into(),
            Tok::Slash => "'/'".into(),
            Tok::Open => "'('".into(),
            Tok::Close => "')'".into(),
            Tok::Comma => "','".into(),
        }
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Tokens with their 1-based positions.
fn lex(chars: &[char]) -> Result<Vec<(Tok, usize)>, ParseError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let position = i + 1;
        let simple = match c {
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '*' => Some(Tok::Star),
            '/' => Some(Tok::Slash),
            '(' => Some(Tok::Open),
            ')' => Some(Tok::Close),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = simple {
            tokens.push((tok, position));
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
            if chars.get(i) == Some(&'.') {
                i += 1;
                if !chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    return Err(ParseError {
                        position: i + 1,
                        message: "expected a digit after the decimal point".into(),
                    });
                }
                while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    i += 1;
                }
            }
            let text: String = chars[start..i].iter().collect();
            let n = text.parse::<Decimal>().map_err(|_| ParseError {
                position,
                message: format!("the number {text} is out of range"),
            })?;
            tokens.push((Tok::Number(n), position));
        } else if is_word_start(c) {
            let start = i;
            loop {
                while chars.get(i).is_some_and(|&c| is_word_char(c)) {
                    i += 1;
                }
                let dotted = chars.get(i) == Some(&'.')
                    && chars.get(i + 1).is_some_and(|&c| is_word_start(c));
                if !dotted {
                    break;
                }
                i += 1;
            }
            tokens.push((Tok::Name(chars[start..i].iter().collect()), position));
        } else {
            return Err(ParseError {
                position,
                message: format!("unexpected character '{c}'"),
            });
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    at: usize,
    depth: usize,
    nodes: usize,
    /// Position reported for "unexpected end".
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<(&Tok, usize)> {
        self.tokens.get(self.at).map(|(t, p)| (t, *p))
    }

    fn next(&mut self) -> Option<(Tok, usize)> {
        let t = self.tokens.get(self.at).cloned();
        if t.is_some() {
            self.at += 1;
        }
        t
    }

    fn node(&mut self, node: Node, position: usize) -> Result<Node, ParseError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(ParseError {
                position,
                message: format!("the expression has more than {MAX_NODES} terms"),
            });
        }
        Ok(node)
    }

    fn nested<T>(
        &mut self,
        position: usize,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                position,
                message: format!("the expression is nested more than {MAX_DEPTH} levels deep"),
            });
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn expr(&mut self) -> Result<Node, ParseError> {
        let mut lhs = self.term()?;
        while let Some((tok, position)) = self.peek() {
            let op = match tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => break,
            };
            self.at += 1;
            let rhs = self.term()?;
            lhs = self.binary(op, lhs, rhs, position)?;
        }
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Node, ParseError> {
        let mut lhs = self.unary()?;
        while let Some((tok, position)) = self.peek() {
            let op = match tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => break,
            };
            self.at += 1;
            let rhs = self.unary()?;
            lhs = self.binary(op, lhs, rhs, position)?;
        }
        Ok(lhs)
    }

    fn binary(
        &mut self,
        op: BinOp,
        lhs: Node,
        rhs: Node,
        position: usize,
    ) -> Result<Node, ParseError> {
        let node = Node::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            position,
        };
        self.node(node, position)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        match self.peek() {
            Some((Tok::Minus, position)) => {
                self.at += 1;
                let operand = self.nested(position, Self::unary)?;
                let node = Node::Neg {
                    operand: Box::new(operand),
                    position,
                };
                self.node(node, position)
            }
            Some((Tok::Plus, position)) => {
                self.at += 1;
                self.nested(position, Self::unary)
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let Some((tok, position)) = self.next() else {
            return Err(ParseError {
                position: self.end,
                message: "unexpected end of expression, expected a number, a name or '('".into(),
            });
        };
        match tok {
            Tok::Number(n) => self.node(Node::Number(n), position),
            Tok::Open => {
                let inner = self.nested(position, Self::expr)?;
                self.expect_close(position)?;
                Ok(inner)
            }
            Tok::Name(name) => {
                if matches!(self.peek(), Some((Tok::Open, _))) {
                    self.at += 1;
                    self.call(name, position)
                } else {
                    self.node(Node::Name { name, position }, position)
                }
            }
            other => Err(ParseError {
                position,
                message: format!(
                    "unexpected {}, expected a number, a name or '('",
                    other.describe()
                ),
            }),
        }
    }

    fn call(&mut self, name: String, position: usize) -> Result<Node, ParseError> {
        let func = Func::parse(&name).ok_or_else(|| ParseError {
            position,
            message: format!("unknown function '{name}' (available: min, max, ceil, floor, round)"),
        })?;
        let args = self.nested(position, |p| {
            let mut args = vec![p.expr()?];
            while matches!(p.peek(), Some((Tok::Comma, _))) {
                p.at += 1;
                args.push(p.expr()?);
            }
            Ok(args)
        })?;
        self.expect_close(position)?;
        let (lo, hi) = func.arity();
        if args.len() < lo || args.len() > hi {
            let wanted = if lo == hi {
                format!("{lo}")
            } else if hi == usize::MAX {
                format!("at least {lo}")
            } else {
                format!("{lo} or {hi}")
            };
            return Err(ParseError {
                position,
                message: format!(
                    "{name}() takes {wanted} argument{}, not {}",
                    if wanted == "1" { "" } else { "s" },
                    args.len()
                ),
            });
        }
        self.node(
            Node::Call {
                func,
                args,
                position,
            },
            position,
        )
    }

    fn expect_close(&mut self, open: usize) -> Result<(), ParseError> {
        match self.next() {
            Some((Tok::Close, _)) => Ok(()),
            Some((tok, position)) => Err(ParseError {
                position,
                message: format!(
                    "unexpected {}, expected ')' to close the '(' at position {open}",
                    tok.describe()
                ),
            }),
            None => Err(ParseError {
                position: self.end,
                message: format!(
                    "unexpected end of expression, expected ')' to close the '(' at position \
                     {open}"
                ),
            }),
        }
    }
}

fn eval(node: &Node, lookup: &dyn Fn(&str) -> Option<Decimal>) -> Result<Decimal, EvalError> {
    match node {
        Node::Number(n) => Ok(*n),
        Node::Name { name, position } => lookup(name).ok_or_else(|| EvalError::UnknownName {
            name: name.clone(),
            position: *position,
        }),
        Node::Neg { operand, position } => eval(operand, lookup)?
            .checked_mul(Decimal::NEGATIVE_ONE)
            .ok_or(EvalError::Overflow {
                position: *position,
            }),
        Node::Binary {
            op,
            lhs,
            rhs,
            position,
        } => {
            let a = eval(lhs, lookup)?;
            let b = eval(rhs, lookup)?;
            let position = *position;
            if *op == BinOp::Div && b.is_zero() {
                return Err(EvalError::DivisionByZero { position });
            }
            let r = match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                BinOp::Div => a.checked_div(b),
            };
            r.ok_or(EvalError::Overflow { position })
        }
        Node::Call {
            func,
            args,
            position,
        } => {
            let values = args
                .iter()
                .map(|a| eval(a, lookup))
                .collect::<Result<Vec<_>, _>>()?;
            call(*func, &values, *position)
        }
    }
}

fn call(func: Func, args: &[Decimal], position: usize) -> Result<Decimal, EvalError> {
    let bad_arity = || EvalError::InvalidArgument {
        position,
        message: "wrong number of arguments".into(),
    };
    let first = *args.first().ok_or_else(bad_arity)?;
    Ok(match func {
        Func::Min => args.iter().copied().fold(first, Decimal::min),
        Func::Max => args.iter().copied().fold(first, Decimal::max),
        Func::Ceil => first.ceil(),
        Func::Floor => first.floor(),
        Func::Round => {
            let places = match args.get(1) {
                None => Some(0),
                Some(p) if p.is_integer() => p.to_u32().filter(|&n| n <= 28),
                Some(_) => None,
            };
            let Some(places) = places else {
                return Err(EvalError::InvalidArgument {
                    position,
                    message: "round()'s second argument must be a whole number from 0 to 28".into(),
                });
            };
            first.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn run(src: &str) -> Result<Decimal, EvalError> {
        let vars = BTreeMap::from([
            ("usage.api_calls".to_string(), d("2500")),
            ("usage.storage_gb".to_string(), d("80.5")),
            ("seats".to_string(), d("3")),
        ]);
        Expression::parse(src).unwrap().eval_with(&vars)
    }

    fn value(src: &str) -> String {
        run(src).unwrap().normalize().to_string()
    }

    fn parse_err(src: &str) -> (usize, String) {
        let e = Expression::parse(src).unwrap_err();
        (e.position, e.message)
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(value("1 + 2 * 3"), "7");
        assert_eq!(value("(1 + 2) * 3"), "9");
        assert_eq!(value("10 - 4 - 3"), "3");
        assert_eq!(value("100 / 10 / 5"), "2");
        assert_eq!(value("2 * 3 + 4 * 5"), "26");
        assert_eq!(value("-2 * 3"), "-6");
        assert_eq!(value("2 - -3"), "5");
        assert_eq!(value("-(2 + 3) * 2"), "-10");
        assert_eq!(value("+4"), "4");
        assert_eq!(value("10 / 4"), "2.5");
        assert_eq!(value("0.1 + 0.2"), "0.3");
    }

    #[test]
    fn names_and_functions() {
        assert_eq!(value("usage.api_calls * 0.01"), "25");
        assert_eq!(value("max(0, usage.storage_gb - 100)"), "0");
        assert_eq!(value("min(3, 1, 2)"), "1");
        assert_eq!(value("max(7)"), "7");
        assert_eq!(value("ceil(usage.api_calls / 1000)"), "3");
        assert_eq!(value("floor(usage.api_calls / 1000)"), "2");
        assert_eq!(value("ceil(-1.5)"), "-1");
        assert_eq!(value("floor(-1.5)"), "-2");
        assert_eq!(value("round(2.5)"), "3");
        assert_eq!(value("round(-2.5)"), "-3");
        assert_eq!(value("round(1.005, 2)"), "1.01");
        assert_eq!(value("round(usage.storage_gb)"), "81");
        assert_eq!(value("seats * (10 + 2 * 2.5)"), "45");
        let e = Expression::parse("usage.a + max(usage.b, 1) * seats").unwrap();
        assert_eq!(
            e.names(),
            vec![("usage.a", 1), ("usage.b", 15), ("seats", 29)]
        );
    }

    #[test]
    fn syntax_errors_carry_positions() {
        assert_eq!(
            parse_err("1 +"),
            (
                4,
                "unexpected end of expression, expected a number, a name or '('".into()
            )
        );
        assert_eq!(parse_err("1 + )").0, 5);
        assert_eq!(parse_err("(1 + 2").0, 7);
        assert_eq!(parse_err("1 2").1, "unexpected number 2");
        assert_eq!(parse_err("2 $ 3"), (3, "unexpected character '$'".into()));
        assert_eq!(parse_err("3. + 1").0, 3);
        assert_eq!(
            parse_err("foo(1)"),
            (
                1,
                "unknown function 'foo' (available: min, max, ceil, floor, round)".into()
            )
        );
        assert_eq!(parse_err("ceil(1, 2)").1, "ceil() takes 1 argument, not 2");
        assert_eq!(
            parse_err("round(1, 2, 3)").1,
            "round() takes 1 or 2 arguments, not 3"
        );
        assert_eq!(parse_err("min()").0, 5);
        assert_eq!(parse_err("").0, 1);
        assert_eq!(parse_err("usage.").1, "unexpected character '.'");
        // Positions count characters, not bytes.
        assert_eq!(parse_err("\"é\" + 1").0, 1);
        assert_eq!(parse_err("1 + é").0, 5);
    }

    #[test]
    fn evaluation_errors() {
        assert_eq!(run("1 / 0"), Err(EvalError::DivisionByZero { position: 3 }));
        assert_eq!(
            run("1 / (seats - 3)"),
            Err(EvalError::DivisionByZero { position: 3 })
        );
        assert_eq!(
            run("79228162514264337593543950335 * 2"),
            Err(EvalError::Overflow { position: 31 })
        );
        assert_eq!(
            run("-79228162514264337593543950335 - 1"),
            Err(EvalError::Overflow { position: 32 })
        );
        assert_eq!(
            run("usage.nope + 1"),
            Err(EvalError::UnknownName {
                name: "usage.nope".into(),
                position: 1
            })
        );
        assert!(matches!(
            run("round(1, 1.5)"),
            Err(EvalError::InvalidArgument { position: 1, .. })
        ));
        assert!(matches!(
            run("round(1, 29)"),
            Err(EvalError::InvalidArgument { .. })
        ));
        assert!(Expression::parse("792281625142643375935439503350").is_err());
    }

    #[test]
    fn size_limits() {
        let long = format!("1{}", " ".repeat(MAX_CHARS));
        assert_eq!(parse_err(&long).0, MAX_CHARS + 1);
        let deep = format!(
            "{}1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(parse_err(&deep).1.contains("nested more than"));
        let ok_deep = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(
            Expression::parse(&ok_deep)
                .unwrap()
                .eval_with(&BTreeMap::new()),
            Ok(d("1"))
        );
        assert!(parse_err(&"-".repeat(MAX_DEPTH + 1)).1.contains("nested"));
        let wide = vec!["1"; MAX_NODES / 2 + 1].join("+");
        assert!(parse_err(&wide).1.contains("more than 200 terms"));
        let fits = vec!["1"; MAX_NODES / 2].join("+");
        assert_eq!(value(&fits), "100");
        // Deep calls: each call nests.
        let calls = format!(
            "{}1{}",
            "ceil(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(parse_err(&calls).1.contains("nested"));
    }

    #[test]
    fn keeps_its_source() {
        let e = Expression::parse(" usage.api_calls ").unwrap();
        assert_eq!(e.source(), " usage.api_calls ");
    }
}
