//! Recursive-descent parser from tokens to the [`Node`] tree.
//!
//! Precedence, loosest first (spec §3.6; operators of one level associate to the left):
//! 1. `AND`, `OR`, `XOR`
//! 2. `=`, `!=`, `<>`, `>=`, `<=`, `>`, `<`
//! 3. `+`, `-`
//! 4. `*`, `/`, `%`
//! 5. postfix `[NOT] LIKE 'pattern'` and `[NOT] IN (set)`
//! 6. prefix `NOT`, `-`, and `EXISTS identifier`
//! 7. function calls, parenthesised expressions, literals and attribute names.
//!
//! A sign directly before digits is part of the integer literal, so `-2147483648` is valid.

use super::ast::{ArithmeticOp, BinaryOp, LogicalOp, Node, OrderOp};
use super::error::ParseError;
use super::functions::Function;
use super::lexer::{Token, TokenKind, tokenize};
use super::like::LikePattern;
use super::value::Value;

/// How deeply expressions may nest, both while parsing and in the finished tree; bounds the
/// stack evaluation needs.
pub(crate) const MAX_NESTING: usize = 128;

/// Parses a whole expression.
pub(crate) fn parse(source: &str) -> Result<Node, ParseError> {
    let mut parser = Parser {
        tokens: tokenize(source)?,
        next: 0,
        depth: 0,
    };
    let node = parser.expression()?;
    let trailing = parser.peek();
    if trailing.kind != TokenKind::End {
        return Err(ParseError::new(
            trailing.position,
            format!(
                "unexpected {} after a complete expression",
                trailing.kind.describe()
            ),
        ));
    }
    if node.height() > MAX_NESTING {
        return Err(ParseError::new(
            0,
            format!("the expression nests more than {MAX_NESTING} operations deep"),
        ));
    }
    Ok(node)
}

struct Parser {
    /// Always ends with [`TokenKind::End`], which is never consumed.
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
}

type Parsed = Result<Node, ParseError>;

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    /// Consumes and returns the next token (the end token stays put).
    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::End {
            self.next += 1;
        }
        token
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        let matched = self.peek().kind == *kind;
        if matched {
            self.advance();
        }
        matched
    }

    fn error_here(&self, expected: &str) -> ParseError {
        let found = self.peek();
        ParseError::new(
            found.position,
            format!("expected {expected}, found {}", found.kind.describe()),
        )
    }

    /// Runs `parse` one nesting level deeper, refusing to go past [`MAX_NESTING`].
    fn nested(&mut self, parse: impl FnOnce(&mut Self) -> Parsed) -> Parsed {
        if self.depth >= MAX_NESTING {
            return Err(ParseError::new(
                self.peek().position,
                format!("the expression nests more than {MAX_NESTING} levels deep"),
            ));
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    fn expression(&mut self) -> Parsed {
        self.nested(Self::logical)
    }

    fn logical(&mut self) -> Parsed {
        let first = self.comparison()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek().kind {
                TokenKind::And => LogicalOp::And,
                TokenKind::Or => LogicalOp::Or,
                TokenKind::Xor => LogicalOp::Xor,
                _ => break,
            };
            self.advance();
            rest.push((op, self.comparison()?));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        Ok(Node::Logical {
            first: Box::new(first),
            rest: rest.into_boxed_slice(),
        })
    }

    fn comparison(&mut self) -> Parsed {
        self.left_associative(Self::additive, |kind| match kind {
            TokenKind::Equal => Some(BinaryOp::Equal),
            TokenKind::NotEqual => Some(BinaryOp::NotEqual),
            TokenKind::Less => Some(BinaryOp::Order(OrderOp::Less)),
            TokenKind::LessOrEqual => Some(BinaryOp::Order(OrderOp::LessOrEqual)),
            TokenKind::Greater => Some(BinaryOp::Order(OrderOp::Greater)),
            TokenKind::GreaterOrEqual => Some(BinaryOp::Order(OrderOp::GreaterOrEqual)),
            _ => None,
        })
    }

    fn additive(&mut self) -> Parsed {
        self.left_associative(Self::multiplicative, |kind| match kind {
            TokenKind::Plus => Some(BinaryOp::Arithmetic(ArithmeticOp::Add)),
            TokenKind::Minus => Some(BinaryOp::Arithmetic(ArithmeticOp::Subtract)),
            _ => None,
        })
    }

    fn multiplicative(&mut self) -> Parsed {
        self.left_associative(Self::postfix, |kind| match kind {
            TokenKind::Star => Some(BinaryOp::Arithmetic(ArithmeticOp::Multiply)),
            TokenKind::Slash => Some(BinaryOp::Arithmetic(ArithmeticOp::Divide)),
            TokenKind::Percent => Some(BinaryOp::Arithmetic(ArithmeticOp::Modulo)),
            _ => None,
        })
    }

    /// `operand (op operand)*`, grouped to the left.
    fn left_associative(
        &mut self,
        operand: fn(&mut Self) -> Parsed,
        operator: fn(&TokenKind) -> Option<BinaryOp>,
    ) -> Parsed {
        let mut left = operand(self)?;
        while let Some(op) = operator(&self.peek().kind) {
            self.advance();
            let right = operand(self)?;
            left = Node::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
        Ok(left)
    }

    /// An operand followed by any number of `[NOT] LIKE` and `[NOT] IN` suffixes.
    fn postfix(&mut self) -> Parsed {
        let mut operand = self.unary()?;
        loop {
            let negated = self.eat(&TokenKind::Not);
            operand = match self.peek().kind {
                TokenKind::Like => {
                    self.advance();
                    let TokenKind::String(pattern) = &self.peek().kind else {
                        return Err(self.error_here("a string literal as the LIKE pattern"));
                    };
                    let pattern = LikePattern::compile(pattern);
                    self.advance();
                    Node::Like {
                        operand: Box::new(operand),
                        pattern,
                        negated,
                    }
                }
                TokenKind::In => {
                    self.advance();
                    Node::In {
                        operand: Box::new(operand),
                        set: self.set()?,
                        negated,
                    }
                }
                _ if negated => return Err(self.error_here("LIKE or IN after NOT")),
                _ => return Ok(operand),
            };
        }
    }

    /// `( expression (, expression)* )` after `IN`.
    fn set(&mut self) -> Result<Box<[Node]>, ParseError> {
        let open = self.peek().position;
        if !self.eat(&TokenKind::LeftParen) {
            return Err(self.error_here("'(' starting the IN set"));
        }
        let items = self.list(open, "IN set")?;
        if items.is_empty() {
            return Err(ParseError::new(
                open,
                "an IN set needs at least one element",
            ));
        }
        Ok(items.into_boxed_slice())
    }

    /// Comma-separated expressions up to and including the `)` that closes the `(` at `open`.
    fn list(&mut self, open: usize, what: &str) -> Result<Vec<Node>, ParseError> {
        let mut items = Vec::new();
        if self.eat(&TokenKind::RightParen) {
            return Ok(items);
        }
        loop {
            items.push(self.expression()?);
            if self.eat(&TokenKind::RightParen) {
                return Ok(items);
            }
            if !self.eat(&TokenKind::Comma) {
                return Err(self.error_here(&format!(
                    "',' or ')' closing the {what} opened at position {open}"
                )));
            }
        }
    }

    fn unary(&mut self) -> Parsed {
        match self.peek().kind {
            TokenKind::Not => {
                self.advance();
                self.nested(Self::unary).map(|n| Node::Not(Box::new(n)))
            }
            TokenKind::Minus | TokenKind::Plus => {
                let sign = self.advance();
                if let TokenKind::Integer(magnitude) = self.peek().kind {
                    self.advance();
                    let negative = sign.kind == TokenKind::Minus;
                    return integer_literal(magnitude, negative, sign.position);
                }
                if sign.kind == TokenKind::Plus {
                    return Err(ParseError::new(
                        sign.position,
                        "'+' must be followed by digits: there is no unary plus operator",
                    ));
                }
                self.nested(Self::unary).map(|n| Node::Negate(Box::new(n)))
            }
            TokenKind::Exists => {
                self.advance();
                let token = self.advance();
                match token.kind {
                    TokenKind::Word(name) => {
                        attribute_name(&name, token.position).map(Node::Exists)
                    }
                    other => Err(ParseError::new(
                        token.position,
                        format!(
                            "expected an attribute name after EXISTS, found {}",
                            other.describe()
                        ),
                    )),
                }
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Parsed {
        let token = self.advance();
        match token.kind {
            TokenKind::Integer(magnitude) => integer_literal(magnitude, false, token.position),
            TokenKind::String(s) => Ok(Node::Literal(Value::String(s))),
            TokenKind::True => Ok(Node::Literal(Value::Boolean(true))),
            TokenKind::False => Ok(Node::Literal(Value::Boolean(false))),
            TokenKind::LeftParen => {
                let inner = self.expression()?;
                if !self.eat(&TokenKind::RightParen) {
                    return Err(self.error_here(&format!(
                        "')' closing the '(' at position {}",
                        token.position
                    )));
                }
                Ok(inner)
            }
            TokenKind::Word(word) if self.peek().kind == TokenKind::LeftParen => {
                self.call(&word, token.position)
            }
            TokenKind::Word(word) => attribute_name(&word, token.position).map(Node::Attribute),
            other => Err(ParseError::new(
                token.position,
                format!("expected an expression, found {}", other.describe()),
            )),
        }
    }

    /// A call of the function `name` at `position`; the next token is its `(`.
    fn call(&mut self, name: &str, position: usize) -> Parsed {
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
        if !valid {
            return Err(ParseError::new(
                position,
                format!(
                    "invalid function name `{name}`: function names are letters and underscores, starting with a letter"
                ),
            ));
        }
        let open = self.advance().position;
        let args = self.list(open, "argument list")?;
        Ok(match Function::resolve(name, args.len()) {
            Some(function) => Node::Call {
                function,
                args: args.into_boxed_slice(),
            },
            None => {
                let plural = if args.len() == 1 { "" } else { "s" };
                let call = format!(
                    "{} taking {} argument{plural}",
                    name.to_ascii_uppercase(),
                    args.len()
                );
                Node::MissingFunction(call.into_boxed_str())
            }
        })
    }
}

/// A literal from the digits' `magnitude` and sign.
fn integer_literal(magnitude: u32, negative: bool, position: usize) -> Parsed {
    let value = if negative {
        -i64::from(magnitude)
    } else {
        i64::from(magnitude)
    };
    i32::try_from(value)
        .map(|i| Node::Literal(Value::Integer(i)))
        .map_err(|_| {
            ParseError::new(
                position,
                format!("integer literal {value} does not fit in a 32-bit signed integer"),
            )
        })
}

/// Validates an attribute name (letters and digits) and lowercases it, as CloudEvents
/// attribute names are lowercase.
fn attribute_name(name: &str, position: usize) -> Result<Box<str>, ParseError> {
    if name.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(name.to_ascii_lowercase().into_boxed_str())
    } else {
        Err(ParseError::new(
            position,
            format!("invalid attribute name `{name}`: attribute names are letters and digits"),
        ))
    }
}
